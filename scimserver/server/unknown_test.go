package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

const (
	statusToken = "scim_test_status"
	myapp       = "urn:ietf:params:scim:schemas:extension:myapp:2.0:User"
	enterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// withStatusToken adds the operator's status-only token to the keyring.
func withStatusToken(t *testing.T) envOption {
	return func(o *Options) {
		k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
			{Name: "entra", Revision: 1, SHA256: auth.Hash(writeToken), Scopes: []string{auth.ScopeRead, auth.ScopeWrite}},
			{Name: "auditor", SHA256: auth.Hash(readToken), Scopes: []string{auth.ScopeRead}},
			{Name: "operator", SHA256: auth.Hash(statusToken), Scopes: []string{auth.ScopeStatus}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Keyring = k
	}
}

// status reads GET /v1/status with the operator's token.
func (e *env) status(t *testing.T) *resp {
	t.Helper()
	return e.do(req{method: http.MethodGet, path: "!" + StatusPath, token: strp(statusToken)}).want(t, 200)
}

// Issue #15 item 1: every shape in which a client sends an attribute no
// served schema defines is dropped (Ignore) or refused (Reject) and, either
// way, reported by its name; shapes Entra sends in normal operation are
// not reported, and a bare name of a declared extension attribute is
// stored.
func TestUnknownAttributes(t *testing.T) {
	type send func(e *env, id string) *resp
	post := func(body map[string]any) send {
		return func(e *env, _ string) *resp { return e.post("/Users", body) }
	}
	put := func(body map[string]any) send {
		return func(e *env, id string) *resp {
			return e.do(req{method: http.MethodPut, path: "/Users/" + id, body: body})
		}
	}
	patchOps := func(ops ...any) send {
		return func(e *env, id string) *resp { return e.patch("/Users/"+id, ops...) }
	}
	cases := []struct {
		name   string
		send   send
		status int      // in Ignore mode
		names  []string // reported, in order
	}{
		{"POST core attribute", post(user("a@x", "shoeSize", 42)), 201, []string{"shoeSize"}},
		{"POST undeclared extension", post(user("a@x", myapp, map[string]any{"shoeSize": 42, "badge": "b"})), 201,
			[]string{myapp + ":badge", myapp + ":shoeSize"}},
		{"POST undeclared extension attribute as a key", post(user("a@x", myapp+":badge", "b")), 201, []string{myapp + ":badge"}},
		{"POST unknown sub-attribute", post(user("a@x", "name", map[string]any{"givenName": "A", "nickname": "Al"})), 201, []string{"name.nickname"}},
		{"POST unknown sub-attribute of elements, once", post(user("a@x", "emails", []any{
			map[string]any{"value": "a@x", "label": "w"}, map[string]any{"value": "b@x", "label": "h"}})), 201, []string{"emails.label"}},
		{"POST unknown attribute of the enterprise extension", post(user("a@x", enterprise, map[string]any{"costCentre": "1"})), 201,
			[]string{enterprise + ":costCentre"}},
		{"POST the Group schema's content on a user", post(user("a@x", "urn:ietf:params:scim:schemas:core:2.0:Group", map[string]any{"displayName": "G"})), 201,
			[]string{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName"}},
		{"PUT core attribute", put(user("a@x", "shoeSize", 42)), 200, []string{"shoeSize"}},
		{"PATCH path", patchOps(op("add", "shoeSize", 42)), 200, []string{"shoeSize"}},
		{"PATCH filtered path", patchOps(op("add", `emails[type eq "work"].label`, "x")), 200, []string{"emails.label"}},
		{"PATCH undeclared extension path", patchOps(op("replace", myapp+":badge", "b")), 200, []string{myapp + ":badge"}},
		{"PATCH pathless", patchOps(op("replace", "", map[string]any{"shoeSize": 42, "displayName": "A"})), 200, []string{"shoeSize"}},
		{"PATCH pathless undeclared extension", patchOps(op("add", "", map[string]any{myapp: map[string]any{"badge": "b"}})), 200, []string{myapp + ":badge"}},
		{"PATCH unknown sub-attribute in a value", patchOps(op("add", "name", map[string]any{"nickname": "Al"})), 200, []string{"name.nickname"}},
		// Nothing is lost, so nothing is reported or refused.
		{"PATCH remove of an unknown attribute", patchOps(op("remove", "shoeSize", nil)), 200, nil},
		{"PATCH clearing an unknown attribute", patchOps(op("replace", "shoeSize", ""), op("replace", "shoeSize", nil)), 200, nil},
		{"POST null unknown attribute", post(user("a@x", "shoeSize", nil, myapp, map[string]any{})), 201, nil},
		// Entra's normal shapes (contract §2.4, §2.5, §2.9).
		{"POST Entra's echoes", post(user("a@x", "schemas", []any{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"},
			"id", "x", "meta", map[string]any{"resourceType": "User"}, "groups", []any{}, "roles", []any{},
			"manager", map[string]any{"managerId": "m", "displayName": "Boss"})), 201, nil},
		{"POST a bare name of the enterprise extension", post(user("a@x", "costCenter", "42", "department", "R&D")), 201, nil},
		{"PATCH Entra's pathless echo", patchOps(op("replace", "", map[string]any{"id": "x", "meta": map[string]any{}, "schemas": []any{}, "groups": []any{}, "active": false})), 200, nil},
	}
	for _, strict := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("strict=%v/%s", strict, tc.name), func(t *testing.T) {
				cfg := config.Default()
				if strict {
					cfg.UnknownAttributes = config.UnknownReject
				}
				e := newEnv(t, withConfig(cfg), withStatusToken(t))
				id := e.post("/Users", user("a@x")).want(t, 201).str(t, "/id")
				if strings.HasPrefix(tc.name, "POST") {
					e.do(req{method: http.MethodDelete, path: "/Users/" + id}).want(t, 204)
				}
				r := tc.send(e, id)
				st := e.status(t)
				action, list := "ignored", "droppedAttributes"
				if strict && len(tc.names) > 0 {
					// The first unknown name fails the request and says how
					// to declare it.
					r.wantError(t, "invalidValue", fmt.Sprintf("%q", tc.names[0]))
					if !strings.Contains(string(r.raw), "spec.schema.") {
						t.Fatalf("the error does not say how to declare or allow it: %s", r.raw)
					}
					action, list = "rejected", "rejectedAttributes"
					tc.names = tc.names[:1]
				} else {
					r.want(t, tc.status)
				}
				if got := listLen(t, st, "/"+list); got != len(tc.names) {
					t.Fatalf("%s has %d entries, want %v: %s", list, got, tc.names, st.raw)
				}
				for i, n := range tc.names {
					p := fmt.Sprintf("/%s/%d", list, i)
					if st.str(t, p+"/name") != n || st.str(t, p+"/resourceType") != "User" || st.num(t, p+"/count") != 1 {
						t.Fatalf("entry %d is not {%q, User, 1}: %s", i, n, st.raw)
					}
					if got := counterValue(t, e.srv.unknown.counter.WithLabelValues("User", n, action)); got != 1 {
						t.Fatalf("scim_unknown_attributes_total{attribute=%q,action=%q} = %v, want 1", n, action, got)
					}
				}
			})
		}
	}
}

// A bare name of a declared extension's attribute is resolved and stored
// under its URN, in both modes; the status document says the mode.
func TestUnknownAttributesBareExtensionName(t *testing.T) {
	for _, mode := range []string{"", config.UnknownReject} {
		cfg := config.Default()
		cfg.UnknownAttributes = mode
		cfg.Extensions = []config.Extension{{URN: myapp, Attributes: []config.Attribute{{Name: "shoeSize", Type: config.TypeInteger}}}}
		e := newEnv(t, withConfig(cfg), withStatusToken(t))
		r := e.post("/Users", user("a@x", "shoeSize", 42, "costCenter", "7")).want(t, 201)
		if r.num(t, "/"+myapp+"/shoeSize") != 42 || r.str(t, "/"+enterprise+"/costCenter") != "7" {
			t.Fatalf("bare extension names not stored under their URN: %s", r.raw)
		}
		st := e.status(t)
		want := "Ignore"
		if mode != "" {
			want = mode
		}
		if st.str(t, "/unknownAttributes") != want || listLen(t, st, "/droppedAttributes") != 0 || listLen(t, st, "/rejectedAttributes") != 0 {
			t.Fatalf("status %s", st.raw)
		}
	}
}

// Counting happens once per successful write, the log line once per name
// per process, and only the status scope reads the status document.
func TestUnknownAttributesCountLogAndScope(t *testing.T) {
	e := newEnv(t, withStatusToken(t))
	for i := range 3 {
		e.post("/Users", user(fmt.Sprintf("u%d@x", i), "shoeSize", i+1)).want(t, 201)
		e.clock.Advance(time.Minute)
	}
	// A write that fails drops nothing: not counted.
	e.post("/Users", user("u0@x", "shoeSize", 9)).want(t, 409)
	st := e.status(t)
	if st.num(t, "/droppedAttributes/0/count") != 3 || st.str(t, "/droppedAttributes/0/name") != "shoeSize" {
		t.Fatalf("status %s", st.raw)
	}
	last, err := time.Parse(time.RFC3339Nano, st.str(t, "/droppedAttributes/0/lastSeen"))
	if err != nil || last.Before(e.clock.Now().Add(-time.Minute-time.Second)) || last.After(e.clock.Now()) {
		t.Fatalf("lastSeen %v (%v), clock %v", last, err, e.clock.Now())
	}
	if got := counterValue(t, e.srv.unknown.counter.WithLabelValues("User", "shoeSize", "ignored")); got != 3 {
		t.Fatalf("counter %v, want 3", got)
	}
	if n := strings.Count(e.logs.String(), `"attribute":"shoeSize"`); n != 1 {
		t.Fatalf("%d log lines name shoeSize, want 1:\n%s", n, e.logs.String())
	}
	for _, tc := range []struct {
		token  string
		status int
	}{{writeToken, 403}, {readToken, 403}, {"", 401}} {
		e.do(req{method: http.MethodGet, path: "!" + StatusPath, token: strp(tc.token)}).want(t, tc.status)
	}
	e.do(req{method: http.MethodPost, path: "!" + StatusPath, token: strp(statusToken)}).want(t, 405)
	// The status token reads nothing else.
	e.do(req{method: http.MethodGet, path: "/Users", token: strp(statusToken)}).want(t, 403)
}

// At most maxUnknownNames names are tracked, logged and used as labels;
// the rest share _other_, with one log line saying so.
func TestUnknownAttributesBounded(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	u := newUnknownAttrs(reg, slog.New(slog.NewJSONHandler(&logs, nil)))
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	for i := range maxUnknownNames + 50 {
		u.record("User", unknownIgnored, []string{fmt.Sprintf("attr%03d", i)}, now)
	}
	u.record("User", unknownIgnored, []string{strings.Repeat("é", 300)}, now)
	dropped, _ := u.snapshot()
	if len(dropped) != maxUnknownNames+1 {
		t.Fatalf("%d entries, want %d", len(dropped), maxUnknownNames+1)
	}
	var other int64
	for _, d := range dropped {
		if d.Name == otherUnknown {
			other = d.Count
		}
	}
	if other != 51 {
		t.Fatalf("%s counted %d, want 51", otherUnknown, other)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != maxUnknownNames+1 {
		t.Fatalf("series: %v, %v; want one family of %d", mfs, err, maxUnknownNames+1)
	}
	if n := strings.Count(logs.String(), "\n"); n != maxUnknownNames+1 {
		t.Fatalf("%d log lines, want %d", n, maxUnknownNames+1)
	}
	if got := clipName(strings.Repeat("é", 300)); len(got) > maxUnknownNameBytes+len("…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("clipName kept %d bytes", len(got))
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func listLen(t *testing.T, r *resp, pointer string) int {
	t.Helper()
	v, ok := at(r.json, pointer)
	l, isList := v.([]any)
	if !ok || !isList {
		t.Fatalf("%s is not a list in %s", pointer, r.raw)
	}
	return len(l)
}
