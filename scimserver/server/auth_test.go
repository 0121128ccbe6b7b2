package server

import (
	"context"
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

// TestTokenExpiresWithClock checks notAfter against the injected clock.
func TestTokenExpiresWithClock(t *testing.T) {
	e := newEnv(t)
	soon := e.clock.Now().Add(time.Minute)
	k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
		{Name: "short", SHA256: auth.Hash("scim_short"), NotAfter: &soon, Scopes: []string{auth.ScopeRead}}}})
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, func(o *Options) { o.Keyring = k; o.Clock = e.clock.Now })
	e2.token = "scim_short"
	e2.get("/Users").want(t, 200)
	e.clock.Advance(time.Minute)
	e2.get("/Users").want(t, 401)
}

// TestTokenReloadSymlinkSwap rotates the token the way the kubelet updates
// a mounted Secret and expects the server to follow within 2 s.
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
	k := auth.NewKeyring(auth.KeyringOptions{Path: filepath.Join(dir, auth.TokenFileName), Interval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	e := newEnv(t, func(o *Options) { o.Keyring = k; o.Clock = time.Now })
	e.token = "scim_first"
	e.get("/Users").want(t, 200)
	e.get("/readyz").want(t, 200)

	write("02", "scim_second")
	deadline := time.Now().Add(2 * time.Second)
	for e.do(req{method: "GET", path: "/Users", token: strp("scim_second")}).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("rotated token not accepted within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.get("/Users").want(t, 401) // the old one is gone
}
