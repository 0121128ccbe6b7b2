package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/filter"
)

var fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// Bounds on one fuzz input. They bound the work of one iteration by size,
// not by the wall clock (a loaded machine is slow, not wrong), and they lie
// above the server's own limits (filter.MaxLength, the filter depth), so
// inputs the server must refuse are still generated. How long the largest
// hostile inputs take is measured by BenchmarkHostileRequests.
const (
	maxFuzzURL  = 4 * filter.MaxLength
	maxFuzzBody = 64 << 10
)

// FuzzHandler throws random methods, paths, queries and bodies at a server
// holding a few users and a group, over real HTTP. Whatever the input: no
// 5xx (other than 501 for /Bulk and /Me), always application/scim+json,
// never a panic.
func FuzzHandler(f *testing.F) {
	e := newEnv(f)
	u1 := e.post("/Users", user("fuzz1@contoso.com", "emails", []any{map[string]any{"type": "work", "value": "f@x"}})).want(f, 201).str(f, "/id")
	u2 := e.post("/Users", user("fuzz2@contoso.com")).want(f, 201).str(f, "/id")
	g := e.post("/Groups", group("FuzzGroup", "members", []any{map[string]any{"value": u1}})).want(f, 201).str(f, "/id")
	patchBody := func(ops string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + ops + `]}`)
	}
	seeds := []struct {
		m             uint8
		path, q, body string
	}{
		{0, "Users", `filter=userName eq "fuzz1@contoso.com"`, ""},
		{0, "Users", `filter=emails[type eq "work"].value eq "f@x"&attributes=emails.value,name`, ""},
		{0, "Groups", "excludedAttributes=members&filter=displayName+eq+%22FuzzGroup%22", ""},
		{0, "Users", `filter=displayName eq "Fuzz" and userName pr&sortBy=displayName`, ""}, // no index in SQLite: a scan
		{0, "Users", "sortBy=meta.lastModified&sortOrder=descending&startIndex=2&count=1", ""},
		{0, "Users/" + u1, "attributes=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", ""},
		{1, "Users", "", `{"userName":"new@x","active":"False","name":{"givenName":"A"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"` + u2 + `"}}`},
		{1, ".search", "", `{"filter":"not (userName pr) or id eq \"x\"","count":3}`},
		{1, "Groups/.search", "", `{"attributes":["displayName"],"startIndex":"2"}`},
		{2, "Users/" + u2, "", `{"userName":"fuzz2@contoso.com","roles":[{"value":"{\"id\":1}"}]}`},
		{3, "Users/" + u1, "", string(patchBody(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"z@x"},{"op":"replace","value":{"name.givenName":"Q"}}`))},
		{3, "Groups/" + g, "", string(patchBody(`{"op":"Remove","path":"members","value":[{"value":"` + u1 + `"}]},{"op":"add","path":"members","value":[{"value":"` + u2 + `"}]}`))},
		{3, "Users/" + u2, "", string(patchBody(`{"op":"remove","path":"manager[value eq \"x\"]"}`))},
		{4, "Users/does-not-exist", "", ""},
		{0, "Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", ""},
		{0, "Bulk", "", ""},
		{6, "Users", "", "{"},
	}
	for _, s := range seeds {
		f.Add(s.m, s.path, s.q, []byte(s.body))
	}
	client := e.ts.Client()
	f.Fuzz(func(t *testing.T, m uint8, path, query string, body []byte) {
		if len(path)+len(query) > maxFuzzURL || len(body) > maxFuzzBody {
			return
		}
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		u, err := url.Parse(e.ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = basePath + "/" + path
		u.RawQuery = wireQuery(query)
		r, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		r.Header.Set("Authorization", "Bearer "+writeToken)
		if len(body) > 0 {
			r.Header.Set("Content-Type", "application/scim+json")
		}
		res, err := client.Do(r)
		if err != nil {
			return // e.g. a path net/http refuses to put on the wire
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		first := strings.ToLower(strings.SplitN(strings.TrimPrefix(res.Request.URL.Path, basePath+"/"), "/", 2)[0])
		if res.StatusCode >= 500 && !(res.StatusCode == 501 && (first == "bulk" || first == "me")) {
			t.Fatalf("%s %s?%s -> %d\n%s\nlogs: %s", method, u.Path, query, res.StatusCode, raw, lastLines(e.logs.String(), 5))
		}
		if ct := res.Header.Get("Content-Type"); ct != ContentType {
			t.Fatalf("%s %s?%s -> %d with Content-Type %q", method, u.Path, query, res.StatusCode, ct)
		}
	})
}

// BenchmarkHostileRequests measures the largest hostile inputs FuzzHandler
// may generate: filters at filter.MaxLength (many clauses, maximal
// nesting), a list of thousands of attributes, and a PATCH body of
// maxFuzzBody bytes of filtered-path operations. Time belongs here, not in
// a test's assertion.
func BenchmarkHostileRequests(b *testing.B) {
	e := newEnv(b)
	id := e.post("/Users", user("hostile@contoso.com")).want(b, 201).str(b, "/id")
	clauses := func(max int, clause func(i int) string, sep string) string {
		var sb strings.Builder
		for i := 0; ; i++ {
			c := clause(i)
			if sb.Len()+len(sep)+len(c) > max {
				return sb.String()
			}
			if i > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(c)
		}
	}
	nested := strings.Repeat("(", filter.MaxDepth-1) + `userName eq "x"` + strings.Repeat(")", filter.MaxDepth-1)
	var ops []string
	for i := 0; ; i++ {
		op := fmt.Sprintf(`{"op":"Add","path":"emails[type eq \"t%d\"].value","value":"v%d@x"}`, i, i)
		if len(strings.Join(append(ops, op), ",")) > maxFuzzBody-200 {
			break
		}
		ops = append(ops, op)
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
	cases := []struct {
		name, method, path string
		body               any
	}{
		{"filter-or-chain", "GET", "/Users?filter=" + url.QueryEscape(clauses(filter.MaxLength, func(i int) string {
			return fmt.Sprintf(`userName eq "u%d"`, i)
		}, " or ")), nil},
		{"filter-nested", "GET", "/Users?filter=" + url.QueryEscape(clauses(filter.MaxLength, func(int) string { return nested }, " and ")), nil},
		{"filter-valuepaths", "GET", "/Users?filter=" + url.QueryEscape(clauses(filter.MaxLength, func(i int) string {
			return fmt.Sprintf(`emails[type eq "w%d" and value co "@x"]`, i)
		}, " or ")), nil},
		{"attributes", "GET", "/Users?attributes=" + url.QueryEscape(clauses(maxFuzzURL-len("attributes="), func(i int) string {
			return fmt.Sprintf("name.givenName%d", i)
		}, ",")), nil},
		{"patch-ops", "PATCH", "/Users/" + id, patch},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if r := e.do(req{method: c.method, path: c.path, body: c.body}); r.status >= 500 {
					b.Fatalf("%s: %d %s", c.name, r.status, r.raw)
				}
			}
		})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// wireQuery percent-encodes what a client cannot put in a request line
// (spaces, controls, non-ASCII, '#'); net/http's own 400 for a broken
// request line is not the handler's answer. Stray '%' stays: the handler
// must cope with bad escapes.
func wireQuery(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
