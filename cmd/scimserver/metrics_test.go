package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// With --metrics-listen-address, /metrics is served on its own port and the
// SCIM port answers 404 for it, so a NetworkPolicy per port separates them.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	dir := t.TempDir()
	raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{}}).Marshal()
	tokens := filepath.Join(dir, auth.TokenFileName)
	if err := os.WriteFile(tokens, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &options{
		listenAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0", database: filepath.Join(dir, "scim.db"),
		tokenFile: tokens, shutdownTimeout: 5 * time.Second, tokenReload: time.Second, logLevel: "info",
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, pw); _ = pw.Close() }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	addrs := map[string]string{} // log message -> address
	sc := bufio.NewScanner(pr)
	for len(addrs) < 2 && sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			if msg, _ := m["msg"].(string); msg == "Serving" || msg == "Serving metrics" {
				addrs[msg], _ = m["address"].(string)
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	scim, metrics := addrs["Serving"], addrs["Serving metrics"]
	if scim == "" || metrics == "" || scim == metrics {
		t.Fatalf("listeners: %v", addrs)
	}

	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("http://" + metrics + "/metrics"); code != 200 || !strings.Contains(body, "scim_auth_tokens_loaded") {
		t.Errorf("metrics port: %d %.200s", code, body)
	}
	if code, _ := get("http://" + scim + "/metrics"); code != http.StatusNotFound {
		t.Errorf("SCIM port /metrics: %d, want 404", code)
	}
	if code, _ := get("http://" + scim + "/readyz"); code != 200 {
		t.Errorf("SCIM port /readyz: %d", code)
	}
	if code, _ := get("http://" + metrics + "/scim/v2/Users"); code != http.StatusNotFound {
		t.Errorf("metrics port serves the SCIM API: %d", code)
	}
}
