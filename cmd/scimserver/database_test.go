package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

func TestDatabaseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string // "" = accepted
	}{
		{"sqlite", []string{"--database", "/data/scim.db"}, ""},
		{"postgres url", []string{"--database", "postgres://u@db/scim", "--postgres-schema", "team_a"}, ""},
		{"postgres url file", []string{"--postgres-url-file", "/etc/scim/db/uri", "--postgres-schema", "team_a"}, ""},
		{"none", nil, "--database (SCIM_DATABASE) or --postgres-url-file"},
		{"both", []string{"--database", "/data/scim.db", "--postgres-url-file", "/etc/scim/db/uri"}, "exclusive"},
		{"schema for sqlite", []string{"--database", "/data/scim.db", "--postgres-schema", "a"}, "PostgreSQL only"},
		{"bad schema", []string{"--postgres-url-file", "/f", "--postgres-schema", "Team-A"}, "--postgres-schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(append([]string{"--token-file", "/etc/scim/tokens"}, tc.args...), io.Discard)
			if tc.err == "" && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestServesFromPostgres runs the server on PostgreSQL with the URL read
// from a file (a mounted Secret key), and checks the URL's password
// appears in no log line.
func TestServesFromPostgres(t *testing.T) {
	url, schema := pgtest.Schema(t)
	// The test server trusts 127.0.0.1, so any password is accepted: one
	// that must never be logged.
	const secret = "never-logged-pw"
	url = strings.Replace(url, "postgres://postgres@", "postgres://postgres:"+secret+"@", 1)
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "uri")
	raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{}}).Marshal()
	tokens := filepath.Join(dir, auth.TokenFileName)
	if err := errors.Join(os.WriteFile(urlFile, []byte(url+"\n"), 0o600), os.WriteFile(tokens, raw, 0o600)); err != nil {
		t.Fatal(err)
	}
	o := &options{
		listenAddress: "127.0.0.1:0", postgresURLFile: urlFile, postgresSchema: schema, postgresStartTimeout: time.Minute,
		tokenFile: tokens, shutdownTimeout: 5 * time.Second, tokenReload: time.Second, logLevel: "debug",
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, pw); _ = pw.Close() }()

	var logs bytes.Buffer
	var addr string
	sc := bufio.NewScanner(pr)
	for addr == "" && sc.Scan() {
		logs.Write(sc.Bytes())
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "Serving" {
			addr, _ = m["address"].(string)
			if m["database"] != "postgres" || m["schema"] != schema {
				t.Errorf("Serving log: %s", sc.Bytes())
			}
		}
	}
	rest := make(chan struct{})
	go func() { _, _ = io.Copy(&logs, pr); close(rest) }()
	if addr == "" {
		t.Fatalf("server did not start: %s", logs.String())
	}
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", res.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	<-rest
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the database password reached the log:\n%s", logs.String())
	}
}
