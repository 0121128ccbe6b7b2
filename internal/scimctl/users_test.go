package scimctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestUsers(t *testing.T) {
	ns := namespace(t)
	acme, _ := tenantWithToken(t, ns, "acme")
	token := secretToken(t, ns, "acme-entra")
	for i, name := range []string{"alice", "bob", "carol"} {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s@example.com","externalId":"ext-%d","active":%t,"displayName":"%s","emails":[{"value":"%s@example.com","type":"work","primary":true}]}`,
			name, i, name != "carol", strings.ToUpper(name[:1])+name[1:], name)
		req, _ := http.NewRequest(http.MethodPost, localURL(acme)+"/Users", bytes.NewBufferString(body))
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("creating %s: %d", name, resp.StatusCode)
		}
	}
	conn := []string{"-n", ns, "--url", localURL(acme), "--host-header", host}

	r := kubectlScim(t, append([]string{"users", "acme", "--chunk-size", "1"}, conn...)...)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != ExitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "USERNAME") {
		t.Fatalf("three users, one per page:\n%s", r)
	}
	for i, want := range []string{"alice@example.com   true", "bob@example.com     true", "carol@example.com   false"} {
		if !strings.HasPrefix(lines[i+1], want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, lines[i+1], want)
		}
	}

	r = kubectlScim(t, append([]string{"users", "acme", "--filter", `active eq false`, "-o", "json"}, conn...)...)
	var list struct {
		TotalResults int              `json:"totalResults"`
		Resources    []map[string]any `json:"Resources"`
	}
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || r.code != ExitOK {
		t.Fatalf("--filter -o json: %v\n%s", err, r)
	}
	if list.TotalResults != 1 || len(list.Resources) != 1 || list.Resources[0]["userName"] != "carol@example.com" {
		t.Fatalf("filter active eq false: %+v", list)
	}

	r = kubectlScim(t, append([]string{"users", "acme", "--limit", "2", "-o", "wide"}, conn...)...)
	if lines := strings.Split(strings.TrimSpace(r.out), "\n"); r.code != ExitOK || len(lines) != 3 || !strings.Contains(lines[0], "EMAIL") ||
		!strings.Contains(lines[1], "alice@example.com") || !strings.Contains(r.errOut, "2 of 3 users shown") {
		t.Fatalf("--limit 2 -o wide:\n%s", r)
	}

	r = kubectlScim(t, append([]string{"users", "acme", "--filter", `userName eq`}, conn...)...)
	if r.code != ExitError || !strings.Contains(r.errOut, "answered 400, invalidFilter") {
		t.Fatalf("a bad filter gives the server's SCIM error:\n%s", r)
	}
	r = kubectlScim(t, append([]string{"users", "acme", "--filter", `userName eq "nobody"`}, conn...)...)
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "No users in tenant "+ns+"/acme match the filter") {
		t.Fatalf("no match:\n%s", r)
	}
}
