package server

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, header string
		body                       any
		want                       int
	}{
		{"missing", "GET", "/Users", "", nil, 401},
		{"wrong token", "GET", "/Users", "Bearer scim_wrong", nil, 401},
		{"basic scheme", "GET", "/Users", "Basic dXNlcjpwYXNz", nil, 401},
		{"expired (server-side notAfter)", "GET", "/Users", "Bearer " + expiredToken, nil, 401},
		{"lower-case scheme", "GET", "/Users", "bearer " + writeToken, nil, 200},
		{"read token reads", "GET", "/Users", "Bearer " + readToken, nil, 200},
		{"read token discovery", "GET", "/Schemas", "Bearer " + readToken, nil, 200},
		{"read token searches", "POST", "/Users/.search", "Bearer " + readToken, map[string]any{}, 200},
		{"read token cannot create", "POST", "/Users", "Bearer " + readToken, user("r@x"), 403},
		{"read token cannot patch", "PATCH", "/Users/x", "Bearer " + readToken, map[string]any{}, 403},
		{"read token cannot delete", "DELETE", "/Users/x", "Bearer " + readToken, nil, 403},
		{"discovery needs a token too", "GET", "/ServiceProviderConfig", "", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(req{method: tt.method, path: tt.path, body: tt.body, token: strp(""), header: map[string]string{"Authorization": tt.header}})
			r.want(t, tt.want)
			if tt.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	if strings.Contains(e.logs.String(), writeToken) || strings.Contains(e.logs.String(), "scim_wrong") {
		t.Fatal("a token appears in the logs")
	}
	if !strings.Contains(e.logs.String(), `"tokenFingerprint":"`+auth.Fingerprint(readToken)+`"`) {
		t.Fatal("access log lacks the token fingerprint")
	}
}

// TestTokenExpiresWithClock checks notAfter against the server's injected
// clock, on both sides of the instant: accepted up to it, refused from it on.
// (The operator drops an expired entry from the file too, but the server must
// not depend on that: it checks with its own clock.)
func TestTokenExpiresWithClock(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	notAfter := clock.Now().Add(time.Minute)
	k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
		{Name: "short", SHA256: auth.Hash("scim_short"), NotAfter: &notAfter, Scopes: []string{auth.ScopeRead}}}})
	if err != nil {
		t.Fatal(err)
	}
	// This clock moves only here: the server's own store has its own.
	e := newEnv(t, func(o *Options) { o.Keyring = k; o.Clock = clock.Now })
	e.token = "scim_short"
	e.get("/Users").want(t, 200)
	clock.Advance(time.Minute - time.Nanosecond)
	e.get("/Users").want(t, 200) // the last instant of the window
	clock.Advance(time.Nanosecond)
	e.get("/Users").want(t, 401) // notAfter itself is outside
	clock.Advance(time.Hour)
	e.get("/Users").want(t, 401)
}

// TestTokenReloadSymlinkSwap rotates the token the way the kubelet updates
// a mounted Secret. It reloads the keyring itself (Reload is what the
// keyring's ticker calls), so the server is asserted right after the one
// reload that must pick the swap up, never after a guess at the time it takes.
func TestTokenReloadSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	write := func(gen, token string) {
		ts := filepath.Join(dir, "..2026_"+gen)
		if err := os.Mkdir(ts, 0o755); err != nil {
			t.Fatal(err)
		}
		raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{{Name: "entra", SHA256: auth.Hash(token), Scopes: []string{"read", "write"}}}}).Marshal()
		if err := os.WriteFile(filepath.Join(ts, auth.TokenFileName), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	write("01", "scim_first")
	if err := os.Symlink("..data/"+auth.TokenFileName, filepath.Join(dir, auth.TokenFileName)); err != nil {
		t.Fatal(err)
	}
	k := auth.NewKeyring(auth.KeyringOptions{Path: filepath.Join(dir, auth.TokenFileName), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e := newEnv(t, func(o *Options) { o.Keyring = k })
	e.token = "scim_first"
	e.get("/Users").want(t, 200)
	e.get("/readyz").want(t, 200)

	write("02", "scim_second")
	e.get("/Users").want(t, 200) // not reloaded yet: the server still serves the first file
	if err := k.Reload(); err != nil {
		t.Fatalf("reload after the swap: %v", err)
	}
	if s := e.do(req{method: "GET", path: "/Users", token: strp("scim_second")}).status; s != http.StatusOK {
		t.Fatalf("rotated token after the reload: %d, want 200", s)
	}
	e.get("/Users").want(t, 401) // the old one is gone
}
