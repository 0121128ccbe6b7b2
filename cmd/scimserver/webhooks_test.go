package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// TestWebhooksFile: with --webhooks-file the server delivers SCIM writes to
// the receiver, serves GET /v1/webhooks to the status scope, and on
// shutdown writes the cursor and releases the lease, so another replica
// could continue at once.
func TestWebhooksFile(t *testing.T) {
	dir := t.TempDir()
	const token, statusToken = "scim_webhooks_test", "scim_webhooks_status"
	raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{
		{Name: "entra", SHA256: auth.Hash(token), Scopes: []string{auth.ScopeRead, auth.ScopeWrite}},
		{Name: "scim-operator", SHA256: auth.Hash(statusToken), Scopes: []string{auth.ScopeStatus}},
	}}).Marshal()
	if err := os.WriteFile(filepath.Join(dir, auth.TokenFileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	secret, _ := webhookconfig.NewSecret()
	hooksDir := filepath.Join(dir, "webhooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{{Name: "crm", URL: rcv.URL, Secrets: []string{secret}}}}
	raw, _ = f.Marshal()
	if err := os.WriteFile(filepath.Join(hooksDir, webhookconfig.FileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "scim.db")
	o, err := parseFlags([]string{"--listen-address", "127.0.0.1:0", "--database", db, "--token-file", dir,
		"--webhooks-file", hooksDir, "--delivery-owner", "pod-0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, pw); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "Serving" {
				addr <- m["address"].(string)
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	do := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := do("POST", "/scim/v2/Users", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@contoso.com"}`); st != 201 {
		t.Fatalf("POST: %d %s", st, body)
	}
	guard := time.After(30 * time.Second)
	for {
		st, body := do("GET", "/v1/webhooks", statusToken, "")
		if st != 200 {
			t.Fatalf("GET /v1/webhooks: %d %s", st, body)
		}
		if strings.Contains(body, `"state":"idle"`) && strings.Contains(body, `"acked":1`) {
			break
		}
		select {
		case <-guard:
			t.Fatalf("not delivered: %s", body)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if got.Load() != 1 {
		t.Fatalf("receiver got %d requests, want 1", got.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	acked, held, err := st.AcquireLease(context.Background(), "crm", "pod-1", now, now.Add(time.Minute))
	if err != nil || !held || acked != 1 {
		t.Fatalf("after shutdown another replica gets acked=%d held=%v (%v); want the lease released at cursor 1", acked, held, err)
	}
}
