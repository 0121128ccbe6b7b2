package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	testToken    = "scimpeer-test-token"
	patchOpURN   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	enterpriseNS = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// userBody is the POST /Users cmd/scimload sends (its userBody): Entra's
// default attribute mapping with the read-only meta and an empty roles.
func userBody(userName string, i int) []byte {
	return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","%[3]s"],`+
		`"externalId":"%[1]s-%[2]d","userName":%[4]q,"active":true,"displayName":"User %[2]d","title":"Engineer",`+
		`"preferredLanguage":"en-US","emails":[{"primary":true,"type":"work","value":%[4]q}],`+
		`"name":{"formatted":"User %[2]d","familyName":"%[2]d","givenName":"User"},`+
		`"addresses":[{"type":"work","primary":true,"formatted":"Bldg %[5]d","streetAddress":"%[2]d Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US"}],`+
		`"phoneNumbers":[{"type":"work","value":"+1 425 555 %04[5]d"},{"type":"mobile","value":"+1 425 556 %04[5]d"}],`+
		`"%[3]s":{"employeeNumber":"%[2]d","department":"Dept %[6]d"},"roles":[],"meta":{"resourceType":"User"}}`,
		"ext", i, enterpriseNS, userName, i%10000, i%50)
}

func userName(i int) string { return fmt.Sprintf("load%06d@contoso.com", i) }

type client struct {
	t    *testing.T
	base string
}

func newPeer(t *testing.T) *client {
	h, err := newHandler(sha256.Sum256([]byte(testToken)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL + "/scim/v2"}
}

// do sends one request with the test token and decodes a JSON answer.
func (c *client) do(method, path string, body []byte, wantStatus int) map[string]any {
	c.t.Helper()
	out, err := c.try(method, path, body, wantStatus)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// try is do for goroutines other than the test's, which must not call
// t.Fatal.
func (c *client) try(method, path string, body []byte, wantStatus int) (map[string]any, error) {
	status, raw, err := c.send(method, path, body, "Bearer "+testToken)
	if err != nil {
		return nil, err
	}
	if status != wantStatus {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, wantStatus, raw)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", method, path, err, raw)
	}
	return out, nil
}

func (c *client) send(method, path string, body []byte, auth string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

func patch(op, path, value string) []byte {
	return []byte(`{"schemas":["` + patchOpURN + `"],"Operations":[{"op":"` + op + `","path":"` + path + `","value":` + value + `}]}`)
}

func filterQuery(attr, value string) string {
	return "?filter=" + url.QueryEscape(attr+` eq "`+value+`"`)
}

// listIDs is the ids of a ListResponse's resources and its totalResults.
func listIDs(t *testing.T, lr map[string]any) ([]string, int) {
	t.Helper()
	var ids []string
	rs, _ := lr["Resources"].([]any)
	for _, r := range rs {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	total, ok := lr["totalResults"].(float64)
	if !ok {
		t.Fatalf("no totalResults in %v", lr)
	}
	return ids, int(total)
}

// TestBaselineRequestKinds sends the six request kinds of cmd/scimload
// --baseline, in the shapes it sends them, and checks each answer.
func TestBaselineRequestKinds(t *testing.T) {
	c := newPeer(t)
	const n = 150 // more than one page of 100
	ids := make([]string, n)
	for i := range n {
		u := c.do("POST", "/Users", userBody(userName(i), i), http.StatusCreated)
		ids[i], _ = u["id"].(string)
		if ids[i] == "" || u["userName"] != userName(i) {
			t.Fatalf("POST /Users %d: %v", i, u)
		}
	}
	g := c.do("POST", "/Groups", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"baseline group"}`), http.StatusCreated)
	group := g["id"].(string)

	t.Run("GET by id", func(t *testing.T) {
		u := c.do("GET", "/Users/"+ids[7], nil, http.StatusOK)
		ent, _ := u[enterpriseNS].(map[string]any)
		if u["id"] != ids[7] || u["userName"] != userName(7) || ent["department"] != "Dept 7" {
			t.Fatalf("GET /Users/{id}: %v", u)
		}
		c.do("GET", "/Users/no-such-id", nil, http.StatusNotFound)
	})

	t.Run("userName eq filter", func(t *testing.T) {
		for _, tc := range []struct {
			name, value string
			want        []string
		}{
			{"exact", userName(42), []string{ids[42]}},
			{"case-insensitive, as userName's caseExact is false", strings.ToUpper(userName(42)), []string{ids[42]}},
			{"absent", "nobody@contoso.com", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, total := listIDs(t, c.do("GET", "/Users"+filterQuery("userName", tc.value), nil, http.StatusOK))
				if total != len(tc.want) || strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("filter %q: ids %v total %d, want %v", tc.value, got, total, tc.want)
				}
			})
		}
	})

	t.Run("100-resource page", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"?count=100", ids[:100]},
			{"?count=100&startIndex=101", ids[100:]},
		} {
			got, total := listIDs(t, c.do("GET", "/Users"+tc.query, nil, http.StatusOK))
			if total != n || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("%s: %d ids, total %d; want the %d in creation order, total %d", tc.query, len(got), total, len(tc.want), n)
			}
		}
	})

	t.Run("PATCH user", func(t *testing.T) {
		u := c.do("PATCH", "/Users/"+ids[3], patch("replace", "displayName", `"Renamed 3"`), http.StatusOK)
		if u["displayName"] != "Renamed 3" || u["userName"] != userName(3) {
			t.Fatalf("PATCH answer: %v", u)
		}
		if u := c.do("GET", "/Users/"+ids[3], nil, http.StatusOK); u["displayName"] != "Renamed 3" {
			t.Fatalf("after PATCH: %v", u)
		}
	})

	t.Run("PATCH add member", func(t *testing.T) {
		for _, i := range []int{10, 11, 12} {
			if out := c.do("PATCH", "/Groups/"+group, patch("add", "members", `[{"value":"`+ids[i]+`"}]`), http.StatusNoContent); out != nil {
				t.Fatalf("member add answered a body: %v", out)
			}
		}
		g := c.do("GET", "/Groups/"+group, nil, http.StatusOK)
		var got []string
		for _, m := range g["members"].([]any) {
			got = append(got, m.(map[string]any)["value"].(string))
		}
		if want := []string{ids[10], ids[11], ids[12]}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("members %v, want %v", got, want)
		}
	})

	t.Run("POST duplicate userName", func(t *testing.T) {
		c.do("POST", "/Users", userBody(strings.ToUpper(userName(5)), 5), http.StatusConflict)
	})

	t.Run("bearer token", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer wrong", testToken} {
			if status, _, err := c.send("GET", "/Users/"+ids[0], nil, auth); err != nil || status != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: status %d (%v), want 401", auth, status, err)
			}
		}
	})
}

// TestConcurrentPatchAndGet runs PATCHes and GETs of the same resources
// at once: the library encodes a handler's answer after the handler has
// returned, so a PATCH must never write into a map it has handed out (run
// with -race to see it).
func TestConcurrentPatchAndGet(t *testing.T) {
	c := newPeer(t)
	u := c.do("POST", "/Users", userBody(userName(1), 1), http.StatusCreated)
	id := u["id"].(string)
	g := c.do("POST", "/Groups", []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g"}`), http.StatusCreated)
	group := g["id"].(string)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				for _, r := range []struct {
					method, path string
					body         []byte
					want         int
				}{
					{"PATCH", "/Users/" + id, patch("replace", "displayName", fmt.Sprintf(`"w%d-%d"`, w, i)), http.StatusOK},
					{"PATCH", "/Groups/" + group, patch("add", "members", fmt.Sprintf(`[{"value":"m%d-%d"}]`, w, i)), http.StatusNoContent},
					{"GET", "/Groups/" + group, nil, http.StatusOK},
					{"GET", "/Users/" + id, nil, http.StatusOK},
				} {
					if _, err := c.try(r.method, r.path, r.body, r.want); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	g = c.do("GET", "/Groups/"+group, nil, http.StatusOK)
	if got := len(g["members"].([]any)); got != workers*each {
		t.Fatalf("%d members after %d adds", got, workers*each)
	}
}
