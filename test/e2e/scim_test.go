package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var httpClient = &http.Client{Timeout: 15 * time.Second}

// response is a SCIM answer: status, content type and decoded JSON body.
type response struct {
	status int
	ctype  string
	header http.Header
	body   map[string]any
	raw    string
}

// call sends one request as Entra does: through the ingress port with the
// tenant's Host header, a bearer token, SCIM JSON, and no User-Agent. A
// tenant with an Entra retry policy (tn.retry) retries as Entra does;
// without one, a connection error fails the test.
func (tn *tenant) call(t testing.TB, token, method, path string, body any) response {
	t.Helper()
	if tn.retry != nil {
		return tn.retry.call(t, tn, token, method, path, body)
	}
	r, err := tn.send(t, token, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is one attempt of call; err is a connection error or a response
// cut short.
func (tn *tenant) send(t testing.TB, token, method, path string, body any) (response, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+rt.IngressAddr()+tn.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = tn.host
	req.Header.Set("User-Agent", "") // Go then sends none, like Entra
	req.Header.Set("Accept", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), header: resp.Header, raw: string(raw)}
	if len(raw) > 0 && strings.Contains(r.ctype, "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %v\n%s", method, path, r.status, err, raw)
		}
	}
	return r, nil
}

// expect calls and fails unless the status is one of want.
func (tn *tenant) expect(t testing.TB, token, method, path string, body any, want ...int) response {
	t.Helper()
	r := tn.call(t, token, method, path, body)
	for _, w := range want {
		if r.status == w {
			if r.status != http.StatusNoContent && !strings.HasPrefix(r.ctype, "application/scim+json") {
				t.Fatalf("%s %s: Content-Type %q, want application/scim+json", method, path, r.ctype)
			}
			return r
		}
	}
	t.Fatalf("%s %s: status %d, want %v\n%s", method, path, r.status, want, r.raw)
	return r
}

// statusWith is the status a token gets on Entra's Test Connection probe.
func (tn *tenant) statusWith(t testing.TB, token string) int {
	t.Helper()
	return tn.call(t, token, http.MethodGet, "/Users?filter="+eqFilter("userName", uuid.NewString()), nil).status
}

// eqFilter is a filter query value form-encoded as Entra sends it.
func eqFilter(attr, value string) string {
	return attr + "+eq+%22" + strings.ReplaceAll(value, "@", "%40") + "%22"
}

// listLen checks a ListResponse and returns its totalResults.
func listLen(t testing.TB, r response) int {
	t.Helper()
	if schemas, _ := r.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:ListResponse" {
		t.Fatalf("not a ListResponse: %s", r.raw)
	}
	n, ok := r.body["totalResults"].(float64)
	if !ok {
		t.Fatalf("totalResults is not a number: %s", r.raw)
	}
	if _, ok := r.body["Resources"].([]any); !ok {
		t.Fatalf("no Resources array: %s", r.raw)
	}
	return int(n)
}

// get walks a decoded JSON document: keys for objects, ints for arrays.
func get(doc any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				return nil
			}
			doc = m[k]
		case int:
			a, ok := doc.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			doc = a[k]
		}
	}
	return doc
}

// typed returns the element of a multi-valued attribute with the given type.
func typed(doc map[string]any, attr, typ string) map[string]any {
	items, _ := doc[attr].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

func patchOp(ops ...map[string]any) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": ops,
	}
}

func op(o, path string, value any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}
