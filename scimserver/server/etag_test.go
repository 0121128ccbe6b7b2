package server

import (
	"net/http"
	"testing"
)

// TestPreconditionLists: If-Match and If-None-Match carry lists of entity
// tags (RFC 9110 §13.1.1); any one of them may name the current version.
func TestPreconditionLists(t *testing.T) {
	e := newEnv(t)
	id := e.post("/Users", user("lists@contoso.com")).want(t, 201).str(t, "/id")
	patch := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{op("replace", "title", "T")}}
	version := 1 // the user's version: each successful write adds one
	tag := func(v int) string { return `W/"` + itoa(v) + `"` }
	for _, tc := range []struct {
		name   string
		method string
		header func() string
		want   int
	}{
		{"current tag last", "PATCH", func() string { return tag(version+5) + ", " + tag(version) }, 200},
		{"current tag first", "PATCH", func() string { return tag(version) + "," + tag(version+5) }, 200},
		{"current tag in the middle, strong form", "PATCH", func() string {
			return `W/"0" , "` + itoa(version) + `" ,W/"99"`
		}, 200},
		{"star in a list", "PATCH", func() string { return tag(version+5) + ", *" }, 200},
		{"no tag current", "PATCH", func() string { return tag(version-1) + ", " + tag(version+1) + ", " + tag(version+2) }, 412},
		{"prefix of the current tag", "PATCH", func() string { return `W/"` + itoa(version) + `0", W/"0"` }, 412},
		{"empty members", "PATCH", func() string { return ", ," }, 412},
		{"put, current tag last", "PUT", func() string { return tag(version+7) + ", " + tag(version) }, 200},
		{"put, no tag current", "PUT", func() string { return tag(version+7) + ", " + tag(version+8) }, 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header()
			var body any = patch
			if tc.method == "PUT" {
				body = user("lists@contoso.com", "title", "P")
			}
			r := e.do(req{method: tc.method, path: "/Users/" + id, body: body, header: map[string]string{"If-Match": h}}).want(t, tc.want)
			if tc.want == 200 {
				version++
				if got := r.header.Get("ETag"); got != tag(version) {
					t.Fatalf("If-Match %s: ETag %q after the write, want %s", h, got, tag(version))
				}
			}
		})
	}

	// If-None-Match with a list: 304 when any tag is current.
	r := e.do(req{method: "GET", path: "/Users/" + id, header: map[string]string{"If-None-Match": `W/"0", ` + tag(version)}})
	if r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match list with the current tag: %d, want 304", r.status)
	}
	e.do(req{method: "GET", path: "/Users/" + id, header: map[string]string{"If-None-Match": `W/"0", ` + tag(version+1)}}).want(t, 200)

	// DELETE: a list without the current tag is refused, one with it deletes.
	e.do(req{method: "DELETE", path: "/Users/" + id, header: map[string]string{"If-Match": `W/"0", ` + tag(version+1)}}).want(t, 412)
	if r := e.do(req{method: "DELETE", path: "/Users/" + id, header: map[string]string{"If-Match": `W/"0", ` + tag(version)}}); r.status != http.StatusNoContent {
		t.Fatalf("DELETE with the current tag in a list: %d %s", r.status, r.raw)
	}
	e.get("/Users/"+id).want(t, 404)
}
