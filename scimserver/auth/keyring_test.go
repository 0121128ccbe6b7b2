package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func fileFor(t *testing.T, entries ...TokenEntry) []byte {
	t.Helper()
	raw, err := (&TokenFile{Tokens: entries}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func entry(name, token string, scopes ...string) TokenEntry {
	return TokenEntry{Name: name, SHA256: Hash(token), Scopes: scopes}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	expired := entry("old", "scim_old", ScopeRead, ScopeWrite)
	expired.NotAfter = &past
	live := entry("entra", "scim_live", ScopeRead, ScopeWrite)
	live.NotAfter = &future
	exact := entry("edge", "scim_edge", ScopeRead)
	exact.NotAfter = &now // refused from this instant on
	k, err := NewStaticKeyring(&TokenFile{Tokens: []TokenEntry{expired, live, exact, entry("reader", "scim_reader", ScopeRead)}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, header, wantName, wantReason string
	}{
		{"bearer", "Bearer scim_live", "entra", ""},
		{"lower-case scheme", "bearer scim_live", "entra", ""},
		{"upper-case scheme", "BEARER scim_reader", "reader", ""},
		{"surrounding space", "  Bearer   scim_reader ", "reader", ""},
		{"missing", "", "", ReasonMissing},
		{"basic scheme", "Basic c2NpbTpsaXZl", "", ReasonMalformed},
		{"no token", "Bearer", "", ReasonMalformed},
		{"blank token", "Bearer   ", "", ReasonMalformed},
		{"wrong token", "Bearer scim_nope", "", ReasonUnknown},
		{"token case matters", "Bearer SCIM_LIVE", "", ReasonUnknown},
		{"expired", "Bearer scim_old", "", ReasonExpired},
		{"notAfter is exclusive", "Bearer scim_edge", "", ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := value(k.failures.WithLabelValues(tt.wantReason))
			got, err := k.Authenticate(tt.header, now)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if got.Name != tt.wantName {
					t.Fatalf("entry %q, want %q", got.Name, tt.wantName)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Reason != tt.wantReason {
				t.Fatalf("err %v, want reason %s", err, tt.wantReason)
			}
			if strings.Contains(err.Error(), "scim_") {
				t.Fatalf("error %q leaks the token", err)
			}
			if after := value(k.failures.WithLabelValues(tt.wantReason)); after != before+1 {
				t.Fatalf("failures{reason=%s} %v -> %v", tt.wantReason, before, after)
			}
		})
	}
}

func TestEntryFingerprint(t *testing.T) {
	e := entry("x", "scim_abc")
	if e.Fingerprint() != Fingerprint("scim_abc") || len(e.Fingerprint()) != FingerprintLength {
		t.Fatalf("fingerprint %q", e.Fingerprint())
	}
}

// secretDir lays out a directory the way the kubelet mounts a Secret:
// tokens.json -> ..data/tokens.json, ..data -> ..<timestamp>/.
type secretDir struct {
	t   *testing.T
	dir string
	gen int
}

func newSecretDir(t *testing.T, content []byte) *secretDir {
	s := &secretDir{t: t, dir: t.TempDir()}
	s.swap(content)
	if err := os.Symlink(filepath.Join("..data", TokenFileName), filepath.Join(s.dir, TokenFileName)); err != nil {
		t.Fatal(err)
	}
	return s
}

// swap writes a new timestamped directory and atomically repoints ..data at
// it by renaming a fresh symlink over the old one, as the kubelet does.
func (s *secretDir) swap(content []byte) {
	s.gen++
	ts := filepath.Join(s.dir, "..2026_03_01_12_00_0"+string(rune('0'+s.gen)))
	if err := os.Mkdir(ts, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, TokenFileName), content, 0o644); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}

func (s *secretDir) path() string { return filepath.Join(s.dir, TokenFileName) }

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyringFollowsSymlinkSwap(t *testing.T) {
	s := newSecretDir(t, fileFor(t, entry("entra", "scim_one", ScopeRead, ScopeWrite)))
	k := NewKeyring(KeyringOptions{Path: s.path(), Interval: 10 * time.Millisecond, Logger: quiet})
	if !k.Loaded() || k.Len() != 1 {
		t.Fatalf("loaded=%v len=%d", k.Loaded(), k.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	now := time.Now()
	if _, err := k.Authenticate("Bearer scim_one", now); err != nil {
		t.Fatal(err)
	}

	// Rotation: the new token is accepted, the old one refused, well within 2 s.
	s.swap(fileFor(t, entry("entra", "scim_two", ScopeRead, ScopeWrite)))
	waitFor(t, 2*time.Second, "new token accepted", func() bool {
		_, err := k.Authenticate("Bearer scim_two", now)
		return err == nil
	})
	if _, err := k.Authenticate("Bearer scim_one", now); err == nil {
		t.Fatal("old token still accepted after rotation")
	}

	// An invalid file keeps the last good set and counts one reload error.
	errsBefore := value(k.reloads.WithLabelValues("error"))
	s.swap([]byte(`{"tokens":[{"sha256":"short"}]}`))
	waitFor(t, 2*time.Second, "reload error counted", func() bool {
		return value(k.reloads.WithLabelValues("error")) == errsBefore+1
	})
	time.Sleep(50 * time.Millisecond) // several more ticks: still counted once
	if got := value(k.reloads.WithLabelValues("error")); got != errsBefore+1 {
		t.Fatalf("reload errors %v, want %v (counted once per bad content)", got, errsBefore+1)
	}
	if _, err := k.Authenticate("Bearer scim_two", now); err != nil {
		t.Fatalf("last good token refused after a bad file: %v", err)
	}

	// A fixed file is picked up again.
	s.swap(fileFor(t, entry("a", "scim_three", ScopeRead), entry("b", "scim_four", ScopeWrite)))
	waitFor(t, 2*time.Second, "fixed file loaded", func() bool { return k.Len() == 2 })
	if got := value(k.tokensLoaded); got != 2 {
		t.Fatalf("tokens loaded gauge %v", got)
	}
}

func TestKeyringPlainFileRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFileName)
	if err := os.WriteFile(path, fileFor(t, entry("a", "scim_a", ScopeRead)), 0o600); err != nil {
		t.Fatal(err)
	}
	k := NewKeyring(KeyringOptions{Path: path, Interval: 10 * time.Millisecond, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	if err := os.WriteFile(path, fileFor(t, entry("b", "scim_b", ScopeRead)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "rewritten file loaded", func() bool {
		e, err := k.Authenticate("Bearer scim_b", time.Now())
		return err == nil && e.Name == "b"
	})
}

func TestKeyringMissingFileNotLoaded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, TokenFileName)
	k := NewKeyring(KeyringOptions{Path: path, Interval: 10 * time.Millisecond, Logger: quiet})
	if k.Loaded() {
		t.Fatal("loaded without a file")
	}
	var ae *AuthError
	if _, err := k.Authenticate("Bearer scim_a", time.Now()); !errors.As(err, &ae) || ae.Reason != ReasonNotLoaded {
		t.Fatalf("err %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	if err := os.WriteFile(path, fileFor(t, entry("a", "scim_a", ScopeRead)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "file appears", k.Loaded)
}

func TestKeyringIsCollector(t *testing.T) {
	k, err := NewStaticKeyring(&TokenFile{Tokens: []TokenEntry{entry("a", "scim_a", ScopeRead)}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(k); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"scim_auth_tokens_loaded", "scim_auth_failures_total", "scim_auth_token_file_reloads_total"} {
		if !names[n] {
			t.Errorf("metric %s not gathered", n)
		}
	}
}

// value reads a gauge or counter without prometheus/testutil (whose
// dependencies are not in go.sum).
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
