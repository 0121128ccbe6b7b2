package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var fuzzMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

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
		start := time.Now()
		res, err := client.Do(r)
		if err != nil {
			return // e.g. a path net/http refuses to put on the wire
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s %s?%s took %v", method, u.Path, query, d)
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
