package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

func TestRateLimit(t *testing.T) {
	cfg := config.Default()
	cfg.RateLimit = &config.RateLimit{RequestsPerSecond: 1, Burst: 2}
	e := newEnv(t, withConfig(cfg))
	e.get("/Users").want(t, 200)
	e.get("/Users").want(t, 200)
	r := e.get("/Users").want(t, 429)
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	e.clock.Advance(time.Second) // the injected clock refills the bucket
	e.get("/Users").want(t, 200)
	e.get("/Users").want(t, 429)
	e.clock.Advance(400 * time.Millisecond)
	r = e.get("/Users").want(t, 429)
	if r.header.Get("Retry-After") != "1" { // 0.6 s rounds up
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if m := e.get("/metrics"); !strings.Contains(string(m.raw), "scim_rate_limited_total 3") {
		t.Fatalf("metrics lack scim_rate_limited_total 3:\n%s", m.raw)
	}
}

func TestSlowRateRetryAfter(t *testing.T) {
	cfg := config.Default()
	cfg.RateLimit = &config.RateLimit{RequestsPerSecond: 1, Burst: 1}
	e := newEnv(t, withConfig(cfg))
	e.get("/Users").want(t, 200)
	e.clock.Advance(-5 * time.Second) // a clock step back must not break the limiter
	r := e.get("/Users").want(t, 429)
	if r.header.Get("Retry-After") == "" || r.header.Get("Retry-After") == "0" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	big := user("big@contoso.com", "displayName", strings.Repeat("x", 2000))
	e.post("/Users", big).want(t, 413)
	// Without a Content-Length the limit is enforced while reading.
	pr, pw := io.Pipe()
	go func() {
		fmt.Fprintf(pw, `{"userName":"chunked@contoso.com","displayName":"%s"}`, strings.Repeat("y", 3000))
		pw.Close()
	}()
	hr, _ := http.NewRequest("POST", e.ts.URL+basePath+"/Users", pr)
	hr.Header.Set("Authorization", "Bearer "+writeToken)
	res, err := e.ts.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 || res.Header.Get("Content-Type") != ContentType {
		t.Fatalf("chunked: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	e.post("/Users", user("small@contoso.com")).want(t, 201)
}

func TestMediaTypes(t *testing.T) {
	e := newEnv(t)
	for i, ct := range []struct {
		ct   string
		want int
	}{
		{"application/scim+json", 201},
		{"application/scim+json; charset=utf-8", 201},
		{"application/json", 201},
		{"application/json; charset=UTF-8", 201},
		{"APPLICATION/JSON", 201},
		{"text/plain", 415},
		{"application/xml", 415},
		{"application/json; charset=latin1", 415},
		{"garbage;;", 415},
	} {
		r := e.do(req{method: "POST", path: "/Users", body: user(fmt.Sprintf("mt%d@contoso.com", i)), header: map[string]string{"Content-Type": ct.ct}})
		r.want(t, ct.want)
	}
	e.do(req{method: "POST", path: "/Users", body: "[1,2]"}).want(t, 400)
	e.do(req{method: "POST", path: "/Users", body: `{"userName":"a"} {}`}).want(t, 400)
	e.do(req{method: "POST", path: "/Users", body: ""}).want(t, 400)
	e.do(req{method: "POST", path: "/Users", body: `{"userName": {"a": 1}}`}).want(t, 400)
	e.do(req{method: "POST", path: "/Users", body: `{"userName": "ok@x", "active": "maybe"}`}).want(t, 400)
}

func TestPreconditions(t *testing.T) {
	e := newEnv(t)
	c := e.post("/Users", user("etag@contoso.com")).want(t, 201)
	id, tag := c.str(t, "/id"), c.header.Get("ETag")
	if tag != `W/"1"` {
		t.Fatalf("ETag %q", tag)
	}
	r := e.do(req{method: "GET", path: "/Users/" + id, header: map[string]string{"If-None-Match": tag}})
	if r.status != http.StatusNotModified || len(r.raw) != 0 || r.header.Get("ETag") != tag {
		t.Fatalf("If-None-Match: %d %q %s", r.status, r.header.Get("ETag"), r.raw)
	}
	e.do(req{method: "GET", path: "/Users/" + id, header: map[string]string{"If-None-Match": `W/"0"`}}).want(t, 200)
	stale := map[string]string{"If-Match": `W/"0"`}
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{op("replace", "title", "T")}}
	e.do(req{method: "PATCH", path: "/Users/" + id, body: body, header: stale}).want(t, 412)
	e.do(req{method: "PUT", path: "/Users/" + id, body: user("etag@contoso.com"), header: stale}).want(t, 412)
	e.do(req{method: "DELETE", path: "/Users/" + id, header: stale}).want(t, 412)
	p := e.do(req{method: "PATCH", path: "/Users/" + id, body: body, header: map[string]string{"If-Match": tag}}).want(t, 200)
	if p.header.Get("ETag") != `W/"2"` || p.str(t, "/title") != "T" {
		t.Fatalf("after PATCH: %s %s", p.header.Get("ETag"), p.raw)
	}
	// Unquoted-weak and star forms match too; no precondition is required.
	e.do(req{method: "PATCH", path: "/Users/" + id, body: body, header: map[string]string{"If-Match": `"2"`}}).want(t, 200)
	e.do(req{method: "PATCH", path: "/Users/" + id, body: body, header: map[string]string{"If-Match": "*"}}).want(t, 200)
	e.do(req{method: "DELETE", path: "/Users/" + id, header: map[string]string{"If-Match": `W/"4"`}})
	e.get("/Users/"+id).want(t, 404)
}

func TestPut(t *testing.T) {
	e := newEnv(t)
	id := e.post("/Users", user("put@contoso.com", "title", "Old", "nickName", "N")).want(t, 201).str(t, "/id")
	r := e.do(req{method: "PUT", path: "/Users/" + id, body: user("put@contoso.com", "title", "New")}).want(t, 200)
	if r.str(t, "/title") != "New" || r.json["nickName"] != nil || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("PUT: %s", r.raw)
	}
	e.do(req{method: "PUT", path: "/Users/" + id, body: map[string]any{"title": "x"}}).want(t, 400)
	e.do(req{method: "PUT", path: "/Users/nope", body: user("nope@contoso.com")}).want(t, 404)

	g := e.post("/Groups", group("PutGroup", "members", []any{map[string]any{"value": id}})).want(t, 201)
	gid := g.str(t, "/id")
	if g.str(t, "/members/0/value") != id {
		t.Fatalf("POST members: %s", g.raw)
	}
	r = e.do(req{method: "PUT", path: "/Groups/" + gid, body: group("PutGroup2")}).want(t, 200)
	if r.str(t, "/members/0/value") != id || r.str(t, "/displayName") != "PutGroup2" {
		t.Fatalf("PUT without members keeps them: %s", r.raw)
	}
	r = e.do(req{method: "PUT", path: "/Groups/" + gid, body: group("PutGroup2", "members", []any{})}).want(t, 200)
	if m, _ := r.json["members"].([]any); m == nil || len(m) != 0 {
		t.Fatalf("PUT members:[] clears: %s", r.raw)
	}
}

func TestGroupsSwitchedOff(t *testing.T) {
	cfg := config.Default()
	cfg.Groups = false
	e := newEnv(t, withConfig(cfg))
	for _, path := range []string{
		"/Groups?filter=displayName+eq+%22x%22",
		"/Groups?excludedAttributes=members&filter=displayName+eq+%22e0a4b9d2%22",
		"/Groups",
	} {
		r := e.get(path).want(t, 200)
		if r.num(t, "/totalResults") != 0 || len(r.json["Resources"].([]any)) != 0 {
			t.Fatalf("%s: %s", path, r.raw)
		}
	}
	e.post("/Groups/.search", map[string]any{"filter": "displayName eq \"x\""}).want(t, 200)
	for _, r := range []*resp{
		e.post("/Groups", group("Nope")),
		e.patch("/Groups/abc", op("add", "members", []any{map[string]any{"value": "x"}})),
		e.do(req{method: "PUT", path: "/Groups/abc", body: group("Nope")}),
		e.do(req{method: "DELETE", path: "/Groups/abc"}),
		e.get("/Groups/abc"),
	} {
		r.want(t, 404)
		if !strings.Contains(r.str(t, "/detail"), "groups are switched off for this tenant") {
			t.Fatalf("detail %q", r.str(t, "/detail"))
		}
	}
	// Discovery describes exactly what is served.
	s := e.get("/Schemas").want(t, 200)
	if s.num(t, "/totalResults") != 2 {
		t.Fatalf("schemas: %s", s.raw)
	}
	e.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group").want(t, 404)
	e.get("/ResourceTypes/Group").want(t, 404)
	if rt := e.get("/ResourceTypes").want(t, 200); rt.num(t, "/totalResults") != 1 {
		t.Fatalf("resource types: %s", rt.raw)
	}
	u := e.post("/Users", user("solo@contoso.com")).want(t, 201)
	if _, ok := u.json["groups"]; ok {
		t.Fatal("groups rendered with groups off")
	}
}

func TestRequiredAttributes(t *testing.T) {
	cfg := config.Default()
	cfg.RequiredUserAttributes = []string{"name.givenName", `emails[type eq "work"].value`, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
	e := newEnv(t, withConfig(cfg))
	r := e.post("/Users", user("req@contoso.com")).want(t, 400)
	if r.str(t, "/scimType") != "invalidValue" {
		t.Fatal(r.str(t, "/scimType"))
	}
	for _, p := range cfg.RequiredUserAttributes {
		if !strings.Contains(r.str(t, "/detail"), p) {
			t.Fatalf("detail %q does not name %s", r.str(t, "/detail"), p)
		}
	}
	// A home email does not satisfy emails[type eq "work"].value.
	r = e.post("/Users", user("req@contoso.com", "name", map[string]any{"givenName": "R"},
		"emails", []any{map[string]any{"type": "home", "value": "h@x"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", map[string]any{"department": "D"})).want(t, 400)
	if d := r.str(t, "/detail"); !strings.Contains(d, "emails") || strings.Contains(d, "givenName") {
		t.Fatalf("detail %q", d)
	}
	ok := user("req@contoso.com", "name", map[string]any{"givenName": "R"},
		"emails", []any{map[string]any{"type": "work", "value": "w@x"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", map[string]any{"department": "D"})
	id := e.post("/Users", ok).want(t, 201).str(t, "/id")
	e.do(req{method: "PUT", path: "/Users/" + id, body: user("req@contoso.com")}).want(t, 400)
	e.patch("/Users/"+id, op("replace", "name.givenName", "")).want(t, 400)
	e.patch("/Users/"+id, op("remove", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", nil)).want(t, 400)
	e.patch("/Users/"+id, op("remove", `emails[type eq "work"]`, nil)).want(t, 400)
	// A PATCH that keeps them is fine, and the refused ones wrote nothing.
	r = e.patch("/Users/"+id, op("replace", "title", "ok")).want(t, 200)
	if r.str(t, "/name/givenName") != "R" || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("%s", r.raw)
	}
	// A bad path in the config stops start-up.
	bad := config.Default()
	bad.RequiredUserAttributes = []string{"nosuchattr"}
	if _, err := New(Options{Config: bad, Store: e.store, Keyring: e.keyring}); err == nil {
		t.Fatal("New accepted an unknown required attribute")
	}
}

func TestCustomExtension(t *testing.T) {
	const urn = "urn:ietf:params:scim:schemas:extension:contoso:2.0:User"
	cfg := config.Default()
	cfg.Extensions = []config.Extension{{URN: urn, Name: "ContosoUser", Attributes: []config.Attribute{
		{Name: "badgeNumber", Type: config.TypeInteger},
		{Name: "costCode", Type: config.TypeString},
		{Name: "contractor", Type: config.TypeBoolean},
	}}}
	e := newEnv(t, withConfig(cfg))
	s := e.get("/Schemas/"+urn).want(t, 200)
	if s.str(t, "/id") != urn || s.str(t, "/attributes/0/name") != "badgeNumber" || s.str(t, "/attributes/0/type") != "integer" {
		t.Fatalf("schema: %s", s.raw)
	}
	if all := e.get("/Schemas").want(t, 200); all.num(t, "/totalResults") != 4 {
		t.Fatalf("schemas: %s", all.raw)
	}
	rt := e.get("/ResourceTypes/User").want(t, 200)
	if !strings.Contains(string(rt.raw), urn) {
		t.Fatalf("resource type lacks the extension: %s", rt.raw)
	}
	r := e.post("/Users", user("ext@contoso.com", urn, map[string]any{"badgeNumber": 1234, "costCode": "CC-9", "contractor": "True"})).want(t, 201)
	id := r.str(t, "/id")
	if r.num(t, "/"+urn+"/badgeNumber") != 1234 || r.json[urn].(map[string]any)["contractor"] != true {
		t.Fatalf("%s", r.raw)
	}
	if !hasSchema(r.json, urn) {
		t.Fatalf("schemas lacks %s", urn)
	}
	e.post("/Users", user("ext2@contoso.com", urn, map[string]any{"badgeNumber": "many"})).want(t, 400)
	// Entra's flagged shape: URN-keyed attributes in a pathless replace.
	e.patch("/Users/"+id, op("replace", "", map[string]any{urn + ":costCode": "CC-10"})).want(t, 200)
	f := e.get("/Users?filter="+urlq(urn+`:costCode eq "CC-10"`)).want(t, 200)
	if f.num(t, "/totalResults") != 1 {
		t.Fatalf("filter: %s", f.raw)
	}
	f = e.get("/Users?filter="+urlq(urn+`:badgeNumber gt 1000`)).want(t, 200)
	if f.num(t, "/totalResults") != 1 {
		t.Fatalf("filter gt: %s", f.raw)
	}
	ex := e.get("/Users/"+id+"?excludedAttributes="+urlq(urn)).want(t, 200)
	if _, ok := ex.json[urn]; ok || hasSchema(ex.json, urn) {
		t.Fatalf("excluded extension still there: %s", ex.raw)
	}
}

func urlq(s string) string {
	r := strings.NewReplacer(" ", "+", `"`, "%22", "[", "%5B", "]", "%5D", "&", "%26")
	return r.Replace(s)
}

// TestConcurrentMemberPatches sends many PATCHes to one group at once;
// every member must survive (Update is one transaction).
func TestConcurrentMemberPatches(t *testing.T) {
	e := newEnv(t)
	gid := e.post("/Groups", group("Busy")).want(t, 201).str(t, "/id")
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.post("/Users", user(fmt.Sprintf("c%02d@contoso.com", i))).want(t, 201).str(t, "/id")
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ops := []any{op("Add", "members", []any{map[string]any{"value": ids[i]}})}
			if i%2 == 1 {
				// Also touch the document, so both kinds of change race.
				ops = append(ops, op("replace", "externalId", fmt.Sprintf("ext-%d", i)))
			}
			body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
			if r := e.do(req{method: "PATCH", path: "/Groups/" + gid, body: body}); r.status != 204 {
				errs <- fmt.Sprintf("%d: %s", r.status, r.raw)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g := e.get("/Groups/"+gid).want(t, 200)
	if got := len(g.json["members"].([]any)); got != n {
		t.Fatalf("%d members, want %d", got, n)
	}
	if v := g.header.Get("ETag"); v != fmt.Sprintf(`W/"%d"`, n+1) {
		t.Fatalf("version %s, want %d updates", v, n)
	}
}

func TestEndpointsAndErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/Bulk", 501},
		{"GET", "/Me", 501},
		{"GET", "/", 404},
		{"GET", "/Nope", 404},
		{"GET", "/Users/a/b", 404},
		{"DELETE", "/Users", 405},
		{"PUT", "/Schemas", 405},
		{"GET", "/.search", 405},
		{"GET", "/Users/.search", 405},
		{"GET", "!/elsewhere", 404},
		{"GET", "/ResourceTypes", 200},
		{"GET", "/ResourceTypes/User", 200},
		{"GET", "/ResourceTypes/Nope", 404},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group", 200},
		{"GET", "/Schemas/urn:nope", 404},
		{"GET", "/ServiceProviderConfig/x", 404},
		{"GET", "/Users?count=1&sortBy=nosuch", 400},
		{"GET", "/Users?sortBy=userName&sortOrder=sideways", 400},
		{"GET", "/Users?attributes=nosuch", 200},
		{"GET", "/Users?startIndex=-5&count=99999", 200},
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.do(req{method: tt.method, path: tt.path})
			r.want(t, tt.want)
			if r.header.Get("X-Request-Id") == "" {
				t.Fatal("no X-Request-Id")
			}
		})
	}
	r := e.do(req{method: "GET", path: "/Users", header: map[string]string{"X-Request-Id": "entra-req-42"}})
	if r.header.Get("X-Request-Id") != "entra-req-42" || !strings.Contains(e.logs.String(), `"requestID":"entra-req-42"`) {
		t.Fatal("request id not echoed and logged")
	}
	r = e.do(req{method: "GET", path: "/Users", header: map[string]string{"X-Request-Id": "bad id\twith spaces"}})
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("unsafe request id echoed: %q", id)
	}
	spc := e.get("/ServiceProviderConfig").want(t, 200)
	if spc.str(t, "/authenticationSchemes/0/type") != "oauthbearertoken" {
		t.Fatalf("%s", spc.raw)
	}
	lst := e.get("/Users?count=5000").want(t, 200)
	if lst.num(t, "/totalResults") != 0 {
		t.Fatal(string(lst.raw))
	}
}

func TestAuditAndMetrics(t *testing.T) {
	e := newEnv(t)
	id := e.post("/Users", user("audit@contoso.com")).want(t, 201).str(t, "/id")
	e.patch("/Users/"+id, op("replace", "title", "x")).want(t, 200)
	e.do(req{method: "DELETE", path: "/Users/" + id}).want(t, 204)
	logs := e.logs.String()
	for _, action := range []string{"create", "patch", "delete"} {
		want := fmt.Sprintf(`"actor":"entra/%s","action":"%s","resourceType":"User","id":"%s"`, e.srvFingerprint(), action, id)
		if !strings.Contains(logs, want) {
			t.Errorf("no audit line %s", want)
		}
	}
	if strings.Contains(logs, "audit@contoso.com") {
		t.Error("a userName (PII) leaked into the logs")
	}
	m := e.do(req{method: "GET", path: "/metrics", token: strp("")})
	if m.status != 200 {
		t.Fatalf("metrics %d", m.status)
	}
	for _, want := range []string{
		`scim_http_requests_total{code="201",method="POST",resource="Users"} 1`,
		`scim_http_requests_total{code="204",method="DELETE",resource="Users"} 1`,
		`scim_http_request_duration_seconds_bucket{method="PATCH",resource="Users",le="+Inf"} 1`,
		`scim_changes_total{action="delete",resource="User"} 1`,
		`scim_auth_tokens_loaded 3`,
		`scim_store_errors_total`,
		`scim_auth_failures_total{reason="missing"} 0`,
		// Pre-created, so ScimTenantNotSyncing sees a tenant Entra never reached.
		`scim_http_requests_total{code="200",method="GET",resource="Groups"} 0`,
		// The token the requests above used (PreviousScimTokenStillInUse).
		`scim_auth_token_last_used_timestamp_seconds{slot="current",token="entra"}`,
	} {
		if !strings.Contains(string(m.raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func (e *env) srvFingerprint() string {
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if i := strings.Index(l, `"tokenFingerprint":"`); i >= 0 {
			return l[i+20 : i+32]
		}
	}
	return "?"
}

// brokenStore fails or panics on demand, to test the 500 paths.
type brokenStore struct {
	store.Store
	panicList bool
}

func (b *brokenStore) List(ctx context.Context, k store.Kind, q store.Query) (*store.Page, error) {
	if b.panicList {
		panic("boom")
	}
	return nil, errors.New("disk on fire")
}

func (b *brokenStore) Ping(context.Context) error { return errors.New("disk on fire") }

func TestServerFaults(t *testing.T) {
	e := newEnv(t)
	bs := &brokenStore{Store: e.store}
	f := newEnv(t, func(o *Options) { o.Store = bs })
	r := f.get("/Users").want(t, 500)
	if strings.Contains(string(r.raw), "disk on fire") {
		t.Fatal("internal error leaked to the client")
	}
	f.get("/readyz").want(t, 503)
	bs.panicList = true
	f.get("/Users").want(t, 500)
	if !strings.Contains(f.logs.String(), "Panic serving request") {
		t.Fatal("panic not logged")
	}
	m := f.do(req{method: "GET", path: "/metrics"})
	if !strings.Contains(string(m.raw), `scim_store_errors_total{op="list"} 1`) {
		t.Fatalf("store error not counted:\n%s", m.raw)
	}
	// The failed readiness check is visible to the ScimServerNotReady alert.
	if !strings.Contains(string(m.raw), "\nscim_server_ready 0\n") {
		t.Fatalf("failed readiness not reported:\n%s", m.raw)
	}
	e.get("/readyz").want(t, 200)
	if m := e.do(req{method: "GET", path: "/metrics"}); !strings.Contains(string(m.raw), "\nscim_server_ready 1\n") {
		t.Fatalf("passed readiness not reported:\n%s", m.raw)
	}
}

func TestRequestTimeout(t *testing.T) {
	e := newEnv(t)
	slow := &slowStore{Store: e.store}
	f := newEnv(t, func(o *Options) { o.Store = slow; o.RequestTimeout = 50 * time.Millisecond })
	f.get("/Users").want(t, 503)
}

type slowStore struct{ store.Store }

func (s *slowStore) List(ctx context.Context, k store.Kind, q store.Query) (*store.Page, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
