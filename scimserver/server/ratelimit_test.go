package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// tokenFileEnv serves the tokens of a real token file that the test
// rewrites and reloads, under the tenant limit tenant.
func tokenFileEnv(t *testing.T, tenant *config.RateLimit, entries ...auth.TokenEntry) (*env, func(...auth.TokenEntry)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), auth.TokenFileName)
	write := func(entries ...auth.TokenEntry) {
		t.Helper()
		raw, err := (&auth.TokenFile{Tokens: entries}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(entries...)
	k := auth.NewKeyring(auth.KeyringOptions{Path: path})
	if !k.Loaded() {
		t.Fatal("token file not loaded")
	}
	cfg := config.Default()
	cfg.RateLimit = tenant
	e := newEnv(t, withConfig(cfg), func(o *Options) { o.Keyring = k })
	return e, func(entries ...auth.TokenEntry) {
		t.Helper()
		write(entries...)
		if err := k.Reload(); err != nil {
			t.Fatal(err)
		}
	}
}

func entra(rev int64) auth.TokenEntry {
	return auth.TokenEntry{Name: "entra", Revision: rev, SHA256: auth.Hash(writeToken), Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
}

func reader(rl *config.RateLimit) auth.TokenEntry {
	return auth.TokenEntry{Name: "auditor", SHA256: auth.Hash(readToken), Scopes: []string{auth.ScopeRead}, RateLimit: rl}
}

// Issue #9 item 12: a reader exhausting its bucket does not push Entra's
// token into 429s; each token has a bucket of the tenant's size by default.
func TestEachTokenHasItsOwnBucket(t *testing.T) {
	e, _ := tokenFileEnv(t, &config.RateLimit{RequestsPerSecond: 1, Burst: 2}, entra(1), reader(nil))
	asReader := req{method: "GET", path: "/Users", token: strp(readToken)}
	e.do(asReader).want(t, 200)
	e.do(asReader).want(t, 200)
	r := e.do(asReader)
	r.want(t, 429)
	if d := r.str(t, "/detail"); d != `too many requests with the token "auditor" (each token has its own budget); retry after the Retry-After delay` {
		t.Fatalf("detail %q", d)
	}
	// The clock has not moved: Entra's token still has its full burst.
	e.post("/Users", user("a@x")).want(t, 201)
	e.get("/Users").want(t, 200)
	e.get("/Users").want(t, 429)
	e.do(asReader).want(t, 429)
}

// A ScimToken's own spec.rateLimit (carried in the token file) replaces the
// tenant default for that token only, and buckets survive token-file
// reloads: a reload neither refills an exhausted bucket nor loses a change
// of limit.
func TestTokenRateLimitFromTheTokenFileAcrossReloads(t *testing.T) {
	e, reload := tokenFileEnv(t, &config.RateLimit{RequestsPerSecond: 1, Burst: 1}, entra(1), reader(&config.RateLimit{RequestsPerSecond: 1, Burst: 3}))
	asReader := req{method: "GET", path: "/Users", token: strp(readToken)}
	for range 3 {
		e.do(asReader).want(t, 200)
	}
	e.do(asReader).want(t, 429)
	e.get("/Users").want(t, 200) // Entra: the tenant default, burst 1
	e.get("/Users").want(t, 429)

	// A rotation of Entra's token rewrites the file: no bucket refills.
	reload(entra(2), reader(&config.RateLimit{RequestsPerSecond: 1, Burst: 3}))
	e.do(asReader).want(t, 429)
	e.get("/Users").want(t, 429)

	// A faster limit for the reader applies to its existing bucket.
	reload(entra(2), reader(&config.RateLimit{RequestsPerSecond: 10, Burst: 4}))
	e.do(asReader).want(t, 429) // still empty at the same instant
	e.clock.Advance(time.Second)
	for range 4 {
		e.do(asReader).want(t, 200)
	}
	e.do(asReader).want(t, 429)
	e.get("/Users").want(t, 200) // Entra refilled at 1/s
}

func TestBucketsAreBounded(t *testing.T) {
	b := newBuckets(&config.RateLimit{RequestsPerSecond: 1})
	b.max = 2
	now := time.Now()
	for _, name := range []string{"a", "b", "c", "d"} {
		if l := b.limiter(&auth.TokenEntry{Name: name}, now); l == nil || l.Burst() != 1 {
			t.Fatalf("%s: limiter %v, want burst 1 (burst defaults to requestsPerSecond)", name, l)
		}
	}
	if n := len(b.byName); n != 2 {
		t.Fatalf("%d buckets, want at most 2", n)
	}
	if l := newBuckets(nil).limiter(&auth.TokenEntry{Name: "x"}, now); l != nil {
		t.Fatal("no tenant limit and no token limit must mean no bucket")
	}
}
