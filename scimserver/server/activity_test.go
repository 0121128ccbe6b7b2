package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

const (
	rotatedToken  = "scim_test_rotated"
	activityToken = "scim_test_activity"
)

// withActivityTokens: entra's previous (revision 1) and current (revision 2)
// tokens, the operator's status token and a person's activity token.
func withActivityTokens(t testing.TB) envOption {
	return func(o *Options) {
		rw := []string{auth.ScopeRead, auth.ScopeWrite}
		k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
			{Name: "entra", Revision: 1, SHA256: auth.Hash(writeToken), Scopes: rw},
			{Name: "entra", Revision: 2, SHA256: auth.Hash(rotatedToken), Scopes: rw},
			{Name: "operator", SHA256: auth.Hash(statusToken), Scopes: []string{auth.ScopeStatus}},
			{Name: "oncall", SHA256: auth.Hash(activityToken), Scopes: []string{auth.ScopeActivity}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Keyring = k
	}
}

func (e *env) activity(t *testing.T, query string) *resp {
	t.Helper()
	return e.do(req{method: http.MethodGet, path: "!" + ActivityPath + query, token: strp(activityToken)}).want(t, 200)
}

// GET /v1/status reports counts, per-token last use (current and previous
// revision apart), the last write and the last client error, over real
// HTTP with real SQLite.
func TestStatusReportsProvisioning(t *testing.T) {
	e := newEnv(t, withActivityTokens(t))
	st := e.status(t)
	if st.num(t, "/users/active") != 0 || st.num(t, "/users/inactive") != 0 || st.num(t, "/groups") != 0 {
		t.Fatalf("empty tenant: %s", st.raw)
	}
	for _, p := range []string{"/lastRequest", "/lastWrite", "/lastClientError"} {
		if _, ok := at(st.json, p); ok {
			t.Fatalf("%s reported before any request: %s", p, st.raw)
		}
	}

	e.post("/Users", user("a@x")).want(t, 201)
	e.post("/Users", user("b@x", "active", false)).want(t, 201)
	previousAt := e.clock.Now()
	e.post("/Groups", group("g1")).want(t, 201)
	e.clock.Advance(time.Minute)
	// The rotated token is used from now on; a failing write is not a write.
	lastWrite := e.clock.Now()
	e.do(req{method: http.MethodPost, path: "/Users", body: user("c@x", "active", false), token: strp(rotatedToken)}).want(t, 201)
	e.clock.Advance(time.Minute)
	failedAt := e.clock.Now()
	e.do(req{method: http.MethodPost, path: "/Users", body: user("a@x"), token: strp(rotatedToken)}).want(t, 409)
	if d := e.status(t).str(t, "/lastClientError/detail"); d != `userName "…" is already taken by another User` {
		t.Fatalf("lastClientError detail %q keeps the userName", d)
	}
	unauthAt := e.clock.Now()
	e.do(req{method: http.MethodGet, path: "/Users", token: strp("not-a-token")}).want(t, 401)

	e.clock.Advance(inactiveTTL) // the empty tenant's inactive count was cached
	st = e.status(t)
	if st.num(t, "/users/active") != 1 || st.num(t, "/users/inactive") != 2 || st.num(t, "/groups") != 1 {
		t.Fatalf("counts: %s", st.raw)
	}
	if st.str(t, "/tokens/0/name") != "entra" || st.num(t, "/tokens/0/revision") != 1 ||
		st.num(t, "/tokens/1/revision") != 2 || st.str(t, "/tokens/1/fingerprint") != auth.Fingerprint(rotatedToken) {
		t.Fatalf("tokens: %s", st.raw)
	}
	if _, ok := at(st.json, "/tokens/2"); ok {
		t.Fatalf("the operator's status reads or a bad token count as use: %s", st.raw)
	}
	wantTime(t, st, "/tokens/0/lastRequest", previousAt)
	wantTime(t, st, "/tokens/1/lastRequest", failedAt)
	wantTime(t, st, "/lastRequest", failedAt)
	wantTime(t, st, "/lastWrite", lastWrite)
	wantTime(t, st, "/lastClientError/time", unauthAt)
	if st.num(t, "/lastClientError/status") != 401 || st.str(t, "/lastClientError/detail") != "a valid bearer token is required" {
		t.Fatalf("lastClientError: %s", st.raw)
	}
	if st.num(t, "/clientErrors/windowSeconds") != 600 || st.num(t, "/clientErrors/errors") != 2 || st.num(t, "/clientErrors/requests") != 6 {
		t.Fatalf("clientErrors: %s", st.raw)
	}
	if strings.Contains(string(st.raw), "a@x") || strings.Contains(string(st.raw), rotatedToken) {
		t.Fatalf("status holds personal data or a token: %s", st.raw)
	}

	// Totals are current at every poll; the inactive count is cached.
	id := e.post("/Users", user("d@x", "active", false)).want(t, 201).str(t, "/id")
	if st = e.status(t); st.num(t, "/users/active") != 2 || st.num(t, "/users/inactive") != 2 {
		t.Fatalf("inside the cache TTL: %s", st.raw)
	}
	e.clock.Advance(inactiveTTL)
	if st = e.status(t); st.num(t, "/users/active") != 1 || st.num(t, "/users/inactive") != 3 {
		t.Fatalf("after the cache TTL: %s", st.raw)
	}
	// The client error window forgets old minutes.
	e.clock.Advance(errorWindowMinutes * time.Minute)
	if st = e.status(t); st.num(t, "/clientErrors/errors") != 0 || st.num(t, "/clientErrors/requests") != 0 {
		t.Fatalf("after the window: %s", st.raw)
	}
	e.do(req{method: http.MethodDelete, path: "/Users/" + id}).want(t, 204)
}

func wantTime(t *testing.T, r *resp, pointer string, want time.Time) {
	t.Helper()
	got, err := time.Parse(time.RFC3339Nano, r.str(t, pointer))
	if err != nil || !got.Equal(want) {
		t.Fatalf("%s = %v (%v), want %v: %s", pointer, got, err, want, r.raw)
	}
}

// GET /v1/activity: redacted entries, only for the activity scope, paged
// by cursor, bounded by count and age.
func TestActivityLog(t *testing.T) {
	cfg := config.Default()
	cfg.Activity = config.Activity{MaxEntries: 5, Retention: config.Duration(time.Hour)}
	e := newEnv(t, withActivityTokens(t), withConfig(cfg))
	id := e.post("/Users", user("alice@example.com")).want(t, 201).str(t, "/id")
	e.get(`/Users?filter=`+urlQuery(`userName eq "alice@example.com"`)+`&count=10&secret=x`).want(t, 200)
	e.post("/Users", user("alice@example.com")).want(t, 409)
	e.get("/Users/"+id).want(t, 200)

	a := e.activity(t, "")
	if a.str(t, "/next") != "4" {
		t.Fatalf("next: %s", a.raw)
	}
	if a.str(t, "/entries/0/method") != "POST" || a.str(t, "/entries/0/path") != basePath+"/Users" || a.num(t, "/entries/0/status") != 201 ||
		a.str(t, "/entries/0/token") != "entra" || a.str(t, "/entries/0/tokenFingerprint") != auth.Fingerprint(writeToken) {
		t.Fatalf("entry 0: %s", a.raw)
	}
	if got, want := a.str(t, "/entries/1/path"), basePath+`/Users?count=10&filter=userName+eq+%22%E2%80%A6%22&secret=…`; got != want {
		t.Fatalf("redacted path %q, want %q", got, want)
	}
	if a.str(t, "/entries/2/scimType") != "uniqueness" || a.num(t, "/entries/2/status") != 409 ||
		a.str(t, "/entries/2/detail") != `userName "…" is already taken by another User` {
		t.Fatalf("entry 2: %s", a.raw)
	}
	if a.str(t, "/entries/3/path") != basePath+"/Users/"+id {
		t.Fatalf("resource ids stay: %s", a.raw)
	}
	if strings.Contains(string(a.raw), "alice") || strings.Contains(string(a.raw), writeToken) {
		t.Fatalf("the history holds personal data or a token: %s", a.raw)
	}

	// Paging: limit and the cursor; since as a time.
	p := e.activity(t, "?limit=2&since=1")
	if p.str(t, "/next") != "3" || p.num(t, "/entries/0/status") != 200 || p.num(t, "/entries/1/status") != 409 {
		t.Fatalf("page: %s", p.raw)
	}
	if _, ok := at(p.json, "/entries/2"); ok {
		t.Fatalf("limit 2: %s", p.raw)
	}
	e.clock.Advance(time.Minute)
	since := e.clock.Now()
	e.get("/Groups").want(t, 200)
	if p = e.activity(t, "?since="+since.Format(time.RFC3339Nano)); p.str(t, "/entries/0/path") != basePath+"/Groups" || p.str(t, "/next") != "5" {
		t.Fatalf("since a time: %s", p.raw)
	}
	if _, ok := at(p.json, "/entries/1"); ok {
		t.Fatalf("since a time: %s", p.raw)
	}

	// A cursor beyond the newest entry (the server restarted since) reads
	// from the oldest kept.
	if p = e.activity(t, "?since=999&limit=1"); p.str(t, "/next") != "1" {
		t.Fatalf("cursor past the newest: %s", p.raw)
	}

	// Bounded by count: 5 entries kept, the oldest go first.
	e.get("/Groups").want(t, 200)
	if p = e.activity(t, ""); p.str(t, "/entries/0/path") != basePath+`/Users?count=10&filter=userName+eq+%22%E2%80%A6%22&secret=…` || p.str(t, "/next") != "6" {
		t.Fatalf("count bound: %s", p.raw)
	}
	// Bounded by age.
	e.clock.Advance(time.Hour + time.Second)
	if p = e.activity(t, ""); p.str(t, "/next") != "6" {
		t.Fatalf("age bound: %s", p.raw)
	} else if _, ok := at(p.json, "/entries/0"); ok {
		t.Fatalf("entries older than the retention: %s", p.raw)
	}

	// Only the activity scope reads it, and it reads nothing else.
	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{"GET", "!" + ActivityPath, writeToken, 403},
		{"GET", "!" + ActivityPath, statusToken, 403},
		{"GET", "!" + ActivityPath, "", 401},
		{"POST", "!" + ActivityPath, activityToken, 405},
		{"GET", "/Users", activityToken, 403},
		{"GET", "!" + StatusPath, activityToken, 403},
		{"GET", "!" + ActivityPath + "?since=yesterday", activityToken, 400},
		{"GET", "!" + ActivityPath + "?limit=0", activityToken, 400},
		{"GET", "!" + ActivityPath + "?limit=1001", activityToken, 400},
	} {
		r := e.do(req{method: tc.method, path: tc.path, token: strp(tc.token)}).want(t, tc.status)
		if tc.status == 400 && r.str(t, "/scimType") != "invalidValue" {
			t.Errorf("%s: %s", tc.path, r.raw)
		}
	}
}

// ?follow answers as soon as a request is recorded.
func TestActivityFollow(t *testing.T) {
	e := newEnv(t, withActivityTokens(t))
	got := make(chan *resp, 1)
	go func() { got <- e.activity(t, "?follow&since=0") }()
	// The follower may ask before or after this request: either way it
	// sees it (an entry recorded before it waits is read first).
	e.get("/Users").want(t, 200)
	r := <-got
	if r.str(t, "/entries/0/path") != basePath+"/Users" || r.str(t, "/next") != "1" {
		t.Fatalf("follow: %s", r.raw)
	}
}

func TestRedactFilter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`userName eq "alice@example.com"`, `userName eq "…"`},
		{`externalId eq "a\"b" and active eq true`, `externalId eq "…" and active eq true`},
		{`emails[value co "x"]`, `emails[value co "…"]`},
		{`displayName sw "unterminated`, `displayName sw "…"`},
		{`meta.lastModified gt 42`, `meta.lastModified gt 42`},
	} {
		if got := redactFilter(tc.in); got != tc.want {
			t.Errorf("redactFilter(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactFilter: no byte of a string literal survives, and redacting
// twice changes nothing.
func FuzzRedactFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a@b"`, `a eq "x\"y" or b eq "z"`, `"`, `\"`, `x eq "\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := redactFilter(in)
		if again := redactFilter(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		parts := strings.Split(out, `"`)
		for i := 1; i < len(parts); i += 2 {
			if parts[i] != "…" {
				t.Fatalf("literal %q survived in %q (from %q)", parts[i], out, in)
			}
		}
	})
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40").Replace(s)
}

// BenchmarkActivityRecord is the per-request cost of the history: a SCIM
// request without a query allocates nothing here.
func BenchmarkActivityRecord(b *testing.B) {
	a := newActivity(config.DefaultActivityEntries, time.Hour)
	r := httptest.NewRequest(http.MethodGet, "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", nil)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a.record(activityEntry{time: now, method: r.Method, path: redactedPath(r), status: 200, token: "entra", revision: 1, fingerprint: "9f86d081884c"}, false)
	}
	_ = fmt.Sprint(a.seq)
}
