package server

import (
	"net/http"
	"testing"
)

// Issue #9 item 13: what sortBy accepts is what docs/scimserver.md says
// (section Lists): any attribute path the type defines that has a value to
// sort by; anything else is 400 invalidPath naming the attribute, never a
// silently unsorted 200.
func TestSortByAcceptsAndRefuses(t *testing.T) {
	e := newEnv(t)
	for _, u := range []struct{ name, email, dept string }{{"b@x", "zed@x", "Ops"}, {"a@x", "amy@x", ""}, {"c@x", "", "Dev"}} {
		body := user(u.name)
		if u.email != "" {
			body["emails"] = []any{map[string]any{"value": "other@x"}, map[string]any{"value": u.email, "primary": true}}
		}
		if u.dept != "" {
			body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"department": u.dept}
		}
		e.post("/Users", body).want(t, 201)
	}
	e.post("/Groups", group("G")).want(t, 201)
	order := func(r *resp) []string {
		var out []string
		for i := range r.num(t, "/itemsPerPage") {
			out = append(out, r.str(t, "/Resources/"+itoa(i)+"/userName"))
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		// Multi-valued: the primary element's value (absent sorts last).
		{"/Users?sortBy=emails", []string{"a@x", "b@x", "c@x"}},
		{"/Users?sortBy=emails.value&sortOrder=descending", []string{"c@x", "b@x", "a@x"}}, // absent first when descending
		{"/Users?sortBy=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", []string{"c@x", "b@x", "a@x"}},
		{"/Users?sortBy=department", []string{"c@x", "b@x", "a@x"}},
		// Defined but nobody has it: creation order.
		{"/Users?sortBy=nickName", []string{"b@x", "a@x", "c@x"}},
		{"/Users?sortBy=USERNAME", []string{"a@x", "b@x", "c@x"}},
	} {
		if got := order(e.get(tc.path).want(t, 200)); !equalStrings(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct{ method, path, detail string }{
		{http.MethodGet, "/Users?sortBy=shoeSize", `sortBy "shoeSize": path "shoeSize": User resources have no attribute "shoeSize"; sort by an attribute of the User schema or a served extension, e.g. userName`},
		{http.MethodGet, "/Users?sortBy=name", `"name" is a complex attribute; sort by one of its sub-attributes, e.g. name.formatted`},
		{http.MethodGet, "/Users?sortBy=groups", `"groups" is computed from group memberships`},
		{http.MethodGet, "/Groups?sortBy=members", `"members" is computed from group memberships`},
		{http.MethodGet, "/Groups?sortBy=userName", `e.g. displayName`},
		{http.MethodPost, "/.search", `no attribute "shoeSize"`},
	} {
		var r *resp
		if tc.method == http.MethodPost {
			r = e.post(tc.path, map[string]any{"sortBy": "shoeSize"})
		} else {
			r = e.get(tc.path)
		}
		r.wantError(t, "invalidPath", tc.detail)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
