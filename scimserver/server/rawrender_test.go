package server

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// slowRender is the response render and writeJSON produce.
func slowRender(t testing.TB, s *Server, kind string, res *store.Resource, v view) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.render(s.reg.ResourceType(kind), res, v)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkRawRender compares renderRaw with render for the document doc
// stored as the store stores it. It reports whether the fast path applied.
func checkRawRender(t testing.TB, s *Server, kind string, doc []byte, members []store.Member, groups map[string][]store.GroupRef) bool {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return false
	}
	raw, err := json.Marshal(m) // as store.Create writes it
	if err != nil {
		return false
	}
	when := time.Date(2026, 1, 5, 10, 0, 0, 123000, time.UTC)
	res := &store.Resource{Kind: store.Kind(kind), ID: "id-1", Doc: m, Raw: raw, Members: members,
		Created: when, LastModified: when.Add(time.Second), Version: 7}
	v := view{base: "https://scim.example/scim/v2", groups: groups}
	got, ok := s.renderRaw(s.reg.ResourceType(kind), res, v)
	if !ok {
		return false
	}
	want := slowRender(t, s, kind, res, v)
	if !bytes.Equal(got, want) {
		t.Fatalf("renderRaw differs from render for %s\n got %s\nwant %s", doc, got, want)
	}
	// Left undecoded by the store (RawReader, Query.RawOnly): the same.
	undecoded := *res
	undecoded.Doc = nil
	if got, ok := s.renderRaw(s.reg.ResourceType(kind), &undecoded, v); !ok || !bytes.Equal(got, want) {
		t.Fatalf("renderRaw without Doc (ok %v) differs for %s\n got %s\nwant %s", ok, doc, got, want)
	}
	return true
}

func TestRenderRawMatchesRender(t *testing.T) {
	e := newEnv(t)
	mgr := `"` + enterpriseURN + `":{"department":"R&D <x>","manager":{"value":"m-1","displayName":"Boss"},"employeeNumber":"7"}`
	tests := []struct {
		name    string
		kind    string
		doc     string
		members []store.Member
		groups  map[string][]store.GroupRef
		fast    bool
	}{
		{name: "user", kind: "User", doc: `{"userName":"a@b.c","active":true,"name":{"givenName":"A"},"emails":[{"value":"a@b.c","primary":true}]}`, fast: true},
		{name: "html and escapes", kind: "User", doc: `{"userName":"a<b>&c","displayName":"\\u0026 \" \\\\ \n \u2028 é","title":"x\\u003cy"}`, fast: true},
		{name: "extension with manager", kind: "User", doc: `{"userName":"a",` + mgr + `}`, fast: true},
		{name: "extension copied as stored", kind: "User", doc: `{"userName":"a","` + enterpriseURN + `":{"department":"R&D","employeeNumber":"7","division":"\u003cx\u003e"}}`, fast: true},
		{name: "extension naming a manager in a value", kind: "User", doc: `{"userName":"a","` + enterpriseURN + `":{"department":"manager"}}`, fast: true},
		{name: "empty extension dropped", kind: "User", doc: `{"userName":"a","` + enterpriseURN + `":{}}`, fast: true},
		{name: "extension not an object", kind: "User", doc: `{"userName":"a","` + enterpriseURN + `":"x"}`, fast: true},
		{name: "password never returned", kind: "User", doc: `{"userName":"a","password":"secret"}`, fast: true},
		{name: "numbers kept", kind: "User", doc: `{"userName":"a","x":1e3,"y":-0.50,"z":12345678901234567890}`, fast: true},
		{name: "groups", kind: "User", doc: `{"userName":"a"}`, groups: map[string][]store.GroupRef{"id-1": {{ID: "g1", DisplayName: "G & 1"}, {ID: "g2"}}}, fast: true},
		{name: "no groups", kind: "User", doc: `{"userName":"a"}`, groups: map[string][]store.GroupRef{}, fast: true},
		{name: "group members", kind: "Group", doc: `{"displayName":"G"}`, members: []store.Member{{Value: "u1", Display: "U <1>", Type: "User"}, {Value: "g2", Type: "Group"}, {Value: "u3"}}, fast: true},
		{name: "group empty members", kind: "Group", doc: `{"displayName":"G"}`, members: []store.Member{}, fast: true},
		{name: "empty document", kind: "User", doc: `{}`, fast: true},
		{name: "computed key in document", kind: "User", doc: `{"userName":"a","id":"other"}`, fast: false},
		{name: "escaped key", kind: "User", doc: `{"userName":"a","\u00e9t\\u0026":"v"}`, fast: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkRawRender(t, e.srv, tt.kind, []byte(tt.doc), tt.members, tt.groups); got != tt.fast {
				t.Fatalf("fast path taken: %v, want %v", got, tt.fast)
			}
		})
	}
}

// FuzzRenderRaw checks that the spliced response is byte for byte what
// encoding the rendered map gives, for any stored document.
func FuzzRenderRaw(f *testing.F) {
	for _, s := range []string{
		`{"userName":"a","active":true}`,
		`{"a":[1,{"b":"\\u0026\\\\u0026"}],"userName":"<&>"}`,
		`{"` + enterpriseURN + `":{"manager":{"value":"m"}},"userName":"x"}`,
		`{"groups":[],"userName":"x"}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, doc string, group bool) {
		kind := "User"
		var members []store.Member
		if group {
			kind, members = "Group", []store.Member{{Value: "u1", Display: doc}}
		}
		checkRawRender(t, e.srv, kind, []byte(doc), members, map[string][]store.GroupRef{"id-1": {{ID: "g", DisplayName: doc}}})
	})
}

// Every answer that carries a user carries its groups, whether the store
// said "no groups" with the read, loaded them in the write transaction or
// left them to GroupsOf.
func TestUserGroupsInEveryAnswer(t *testing.T) {
	e := newEnv(t)
	in := e.post("/Users", user("in@contoso.com")).want(t, 201).str(t, "/id")
	out := e.post("/Users", user("out@contoso.com")).want(t, 201).str(t, "/id")
	gid := e.post("/Groups", group("Sales", "members", []any{map[string]any{"value": in}})).want(t, 201).str(t, "/id")
	answers := []struct {
		name    string
		do      func(id, userName string) *resp
		pointer string
	}{
		{"GET", func(id, _ string) *resp { return e.get("/Users/"+id).want(t, 200) }, "/groups"},
		{"PATCH", func(id, _ string) *resp {
			return e.patch("/Users/"+id, op("replace", "title", "T")).want(t, 200)
		}, "/groups"},
		{"filter", func(_, name string) *resp {
			return e.get("/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)).want(t, 200)
		}, "/Resources/0/groups"},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			r := a.do(in, "in@contoso.com")
			if got, _ := at(r.json, a.pointer+"/0/value"); got != gid || len(r.json) == 0 {
				t.Errorf("member: %s = %v, want %s: %s", a.pointer, got, gid, r.raw)
			}
			if _, ok := at(a.do(out, "out@contoso.com").json, a.pointer); ok {
				t.Errorf("non-member has %s", a.pointer)
			}
		})
	}
	page := e.get("/Users?count=10").want(t, 200)
	if got, _ := at(page.json, "/Resources/0/groups/0/value"); got != gid {
		t.Errorf("page: first user's groups %v, want %s", got, gid)
	}
	if _, ok := at(page.json, "/Resources/1/groups"); ok {
		t.Errorf("page: second user has groups: %s", page.raw)
	}
}

// writeList writes what writeJSON writes for the same ListResponse.
func TestWriteListMatchesWriteJSON(t *testing.T) {
	e := newEnv(t)
	resources := [][]any{
		{},
		{json.RawMessage(`{"id":"a","userName":"<&>"}`), map[string]any{"id": "b", "x": "R&D \u2028"}},
	}
	for _, rs := range resources {
		resp := listResponse{Schemas: []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
			TotalResults: 12, StartIndex: 3, ItemsPerPage: len(rs), Resources: rs}
		want := httptest.NewRecorder()
		writeJSON(want, 200, resp)
		got := httptest.NewRecorder()
		e.srv.writeList(got, httptest.NewRequest("GET", "/", nil), resp)
		if got.Body.String() != want.Body.String() || got.Header().Get("Content-Length") != want.Header().Get("Content-Length") {
			t.Errorf("writeList\n got %s\nwant %s", got.Body, want.Body)
		}
	}
}

// A lone `userName eq` (users) or `displayName eq` (groups) is answered by
// the folded index alone; the answers are those the filter gives.
func TestFilterAnsweredByIndex(t *testing.T) {
	e := newEnv(t)
	e.post("/Users", user("Ärger@contoso.com")).want(t, 201)
	e.post("/Users", user("kelvin\u212a@contoso.com")).want(t, 201) // KELVIN SIGN folds to k
	e.post("/Groups", group("Sales Team")).want(t, 201)
	tests := []struct {
		path string
		want int
	}{
		{"/Users?filter=" + url.QueryEscape(`userName eq "ärger@CONTOSO.com"`), 1},
		{"/Users?filter=" + url.QueryEscape(`userName eq "KELVINK@contoso.com"`), 1},
		{"/Users?filter=" + url.QueryEscape(`userName eq "nobody@contoso.com"`), 0},
		{"/Users?filter=" + url.QueryEscape(`userName eq ""`), 0},
		{"/Users?filter=" + url.QueryEscape(`userName eq "ärger@contoso.com" and active eq false`), 0},
		{"/Users?filter=" + url.QueryEscape(`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ÄRGER@contoso.com"`), 1},
		{"/Groups?filter=" + url.QueryEscape(`displayName eq "sales team"`), 1},
		{"/Groups?excludedAttributes=members&filter=" + url.QueryEscape(`displayName eq "SALES TEAM"`), 1},
		{"/Groups?filter=" + url.QueryEscape(`displayName eq "Sales"`), 0},
	}
	for _, tc := range tests {
		r := e.get(tc.path).want(t, 200)
		if n := r.num(t, "/totalResults"); n != tc.want {
			t.Errorf("%s: totalResults %d, want %d", tc.path, n, tc.want)
		}
		if got := len(r.json["Resources"].([]any)); got != tc.want {
			t.Errorf("%s: %d resources, want %d", tc.path, got, tc.want)
		}
	}
}
