package server

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestResponseType(t *testing.T) {
	for _, tc := range []struct{ accept, want string }{
		{"", ContentType},
		{"application/scim+json", ContentType},
		{"application/json", jsonType},
		{"Application/JSON", jsonType},
		{"application/json; charset=utf-8", jsonType},
		{"application/scim+json;q=0.5, application/json", jsonType},
		{"application/json;q=0.2, application/scim+json;q=0.9", ContentType},
		{"application/json, application/scim+json", ContentType}, // a tie
		{"application/json, */*;q=0.1", jsonType},
		{"*/*", ContentType},
		{"application/*", ContentType},
		{"application/json;q=0, */*", ContentType},
		{"application/json;q=0", ContentType}, // nothing acceptable: the default, not 406
		{"text/html", ContentType},
		{"application/json;q=0.3, application/*;q=0.2", jsonType},
		{"garbage;;;,/", ContentType},
	} {
		if got := responseType(tc.accept); got != tc.want {
			t.Errorf("Accept %q: %s, want %s", tc.accept, got, tc.want)
		}
	}
}

// Issue #15 item 2: a client asking for application/json (OneLogin) gets
// it, for resources, lists, discovery and errors alike; Entra's
// application/scim+json and no Accept at all keep the SCIM type.
func TestAcceptNegotiatesTheResponseType(t *testing.T) {
	e := newEnv(t)
	id := e.post("/Users", user("a@x")).want(t, 201).str(t, "/id")
	asJSON := map[string]string{"Accept": "application/json"}
	for _, r := range []req{
		{method: http.MethodGet, path: "/Users/" + id, header: asJSON},
		{method: http.MethodGet, path: "/Users?filter=userName+eq+%22a%40x%22", header: asJSON},
		{method: http.MethodGet, path: "/ServiceProviderConfig", header: asJSON},
		{method: http.MethodPost, path: "/Users", body: user("b@x"), header: asJSON},
		{method: http.MethodGet, path: "/Users/nope", header: asJSON},
		{method: http.MethodGet, path: "/Users", header: asJSON, token: strp("")},
	} {
		res := e.do(r)
		if ct := res.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q, want application/json", r.method, r.path, ct)
		}
		var body map[string]any
		if err := json.Unmarshal(res.raw, &body); err != nil || body["schemas"] == nil {
			t.Errorf("%s %s: body is not the SCIM JSON: %s", r.method, r.path, res.raw)
		}
		if res.header.Get("Vary") != "Accept" {
			t.Errorf("%s %s: Vary %q", r.method, r.path, res.header.Get("Vary"))
		}
	}
	e.do(req{method: http.MethodGet, path: "/Users/" + id, header: map[string]string{"Accept": "application/scim+json"}}).want(t, 200)
	e.get("/Users/nope").want(t, 404) // no Accept: application/scim+json, errors included
	// /metrics keeps its own type.
	if ct := e.do(req{method: http.MethodGet, path: "/metrics", header: asJSON}).header.Get("Content-Type"); ct == "application/json" || ct == ContentType {
		t.Errorf("/metrics Content-Type %q", ct)
	}
}
