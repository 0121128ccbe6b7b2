package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
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

// The token file is the contract between the operator (which writes the
// hashes) and the server (which compares them): both must compute the same
// hex SHA-256, pinned here to known vectors rather than to Hash itself.
func TestHashAndFingerprintVectors(t *testing.T) {
	tests := []struct{ token, hash, fingerprint string }{
		// FIPS 180-2 test vectors.
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "e3b0c44298fc"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "ba7816bf8f01"},
		// A token-shaped value (sha256sum of the bytes "scim_abc").
		{"scim_abc", "a2a11dae4201caa8a4be0f09661dcb4b9ad8938ab337c7278a9637ffbba4de74", "a2a11dae4201"},
	}
	for _, tt := range tests {
		if got := Hash(tt.token); got != tt.hash {
			t.Errorf("Hash(%q) = %s, want %s", tt.token, got, tt.hash)
		}
		if got := Fingerprint(tt.token); got != tt.fingerprint {
			t.Errorf("Fingerprint(%q) = %s, want %s", tt.token, got, tt.fingerprint)
		}
		if got := entry("x", tt.token).Fingerprint(); got != tt.fingerprint {
			t.Errorf("entry fingerprint of %q = %s, want %s", tt.token, got, tt.fingerprint)
		}
		// A file written with upper-case hex names the same token.
		upper := TokenEntry{SHA256: strings.ToUpper(tt.hash)}
		if got := upper.Fingerprint(); got != tt.fingerprint {
			t.Errorf("entry fingerprint of upper-case %s = %s, want %s", tt.hash, got, tt.fingerprint)
		}
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

// waitFor waits for Run's ticker to act: a condition with a generous
// deadline (a loaded machine is slow, never wrong), not a sleep.
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

// TestKeyringFollowsSymlinkSwap drives the reloads itself (Reload is what
// Run calls on every tick), so each step is observed after exactly the
// reloads it names, whatever the machine's speed.
func TestKeyringFollowsSymlinkSwap(t *testing.T) {
	s := newSecretDir(t, fileFor(t, entry("entra", "scim_one", ScopeRead, ScopeWrite)))
	k := NewKeyring(KeyringOptions{Path: s.path(), Logger: quiet})
	if !k.Loaded() || k.Len() != 1 {
		t.Fatalf("loaded=%v len=%d", k.Loaded(), k.Len())
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := k.Authenticate("Bearer scim_one", now); err != nil {
		t.Fatal(err)
	}

	// Rotation: after one reload the new token is accepted, the old one refused.
	s.swap(fileFor(t, entry("entra", "scim_two", ScopeRead, ScopeWrite)))
	if err := k.Reload(); err != nil {
		t.Fatalf("reload after the swap: %v", err)
	}
	if _, err := k.Authenticate("Bearer scim_two", now); err != nil {
		t.Fatalf("new token after the swap: %v", err)
	}
	if _, err := k.Authenticate("Bearer scim_one", now); err == nil {
		t.Fatal("old token still accepted after rotation")
	}

	// An invalid file keeps the last good set and counts one reload error,
	// however many ticks read it again.
	errsBefore := value(k.reloads.WithLabelValues("error"))
	okBefore := value(k.reloads.WithLabelValues("ok"))
	s.swap([]byte(`{"tokens":[{"sha256":"short"}]}`))
	for i := range 5 {
		if err := k.Reload(); err == nil {
			t.Fatalf("reload %d of an invalid file reported no error", i)
		}
	}
	if got := value(k.reloads.WithLabelValues("error")); got != errsBefore+1 {
		t.Fatalf("reload errors %v after 5 reloads of one bad file, want %v (counted once per bad content)", got, errsBefore+1)
	}
	if got := value(k.reloads.WithLabelValues("ok")); got != okBefore {
		t.Fatalf("ok reloads %v -> %v for a bad file", okBefore, got)
	}
	if _, err := k.Authenticate("Bearer scim_two", now); err != nil {
		t.Fatalf("last good token refused after a bad file: %v", err)
	}

	// A fixed file is picked up again.
	s.swap(fileFor(t, entry("a", "scim_three", ScopeRead), entry("b", "scim_four", ScopeWrite)))
	if err := k.Reload(); err != nil {
		t.Fatalf("reload of the fixed file: %v", err)
	}
	if k.Len() != 2 || value(k.tokensLoaded) != 2 {
		t.Fatalf("after the fixed file: len %d, tokens loaded gauge %v", k.Len(), value(k.tokensLoaded))
	}
	if _, err := k.Authenticate("Bearer scim_two", now); err == nil {
		t.Fatal("token of the replaced file still accepted")
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
	waitFor(t, 30*time.Second, "rewritten file loaded", func() bool {
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
	waitFor(t, 30*time.Second, "file appears", k.Loaded)
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

// gaugesByLabels gathers reg and returns the samples of the gauge name, keyed
// by "token/slot".
func gaugesByLabels(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out[l["token"]+"/"+l["slot"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// The per-token metrics say when the current and the previous token of a
// rotation were last used, and when each stops being accepted: the alert
// PreviousScimTokenStillInUse needs both.
func TestKeyringTokenUseMetrics(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	graceEnd := t0.Add(2 * time.Hour)
	expiry := t0.Add(90 * 24 * time.Hour)
	current := TokenEntry{Name: "entra", Revision: 2, SHA256: Hash("scim_new"), Scopes: []string{ScopeRead}, NotAfter: &expiry}
	previous := TokenEntry{Name: "entra", Revision: 1, SHA256: Hash("scim_old"), Scopes: []string{ScopeRead}, NotAfter: &graceEnd}
	other := TokenEntry{Name: "reader", Revision: 1, SHA256: Hash("scim_reader"), Scopes: []string{ScopeRead}}

	path := filepath.Join(t.TempDir(), TokenFileName)
	if err := os.WriteFile(path, fileFor(t, current, previous, other), 0o600); err != nil {
		t.Fatal(err)
	}
	k := NewKeyring(KeyringOptions{Path: path, Logger: quiet})
	reg := prometheus.NewRegistry()
	reg.MustRegister(k)

	steps := []struct {
		name     string
		header   string
		at       time.Time
		lastUsed map[string]float64
	}{
		{"nothing used yet", "", t0, map[string]float64{}},
		{"Entra still sends the previous token", "Bearer scim_old", t0, map[string]float64{
			"entra/previous": float64(t0.Unix()),
		}},
		{"Entra switched to the new token", "Bearer scim_new", t0.Add(time.Minute), map[string]float64{
			"entra/previous": float64(t0.Unix()), "entra/current": float64(t0.Add(time.Minute).Unix()),
		}},
		{"an unknown token changes nothing", "Bearer scim_nope", t0.Add(2 * time.Minute), map[string]float64{
			"entra/previous": float64(t0.Unix()), "entra/current": float64(t0.Add(time.Minute).Unix()),
		}},
		{"an expired previous token is not marked used", "Bearer scim_old", graceEnd, map[string]float64{
			"entra/previous": float64(t0.Unix()), "entra/current": float64(t0.Add(time.Minute).Unix()),
		}},
	}
	for _, st := range steps {
		if st.header != "" {
			_, _ = k.Authenticate(st.header, st.at)
		}
		if got := gaugesByLabels(t, reg, "scim_auth_token_last_used_timestamp_seconds"); !maps.Equal(got, st.lastUsed) {
			t.Errorf("%s: last used = %v, want %v", st.name, got, st.lastUsed)
		}
	}
	wantNotAfter := map[string]float64{"entra/current": float64(expiry.Unix()), "entra/previous": float64(graceEnd.Unix())}
	if got := gaugesByLabels(t, reg, "scim_auth_token_not_after_timestamp_seconds"); !maps.Equal(got, wantNotAfter) {
		t.Errorf("not after = %v, want %v", got, wantNotAfter)
	}

	// The grace window ends: the operator drops the previous entry from the
	// file, and its series go with it; the current token's last use survives
	// the reload.
	if err := os.WriteFile(path, fileFor(t, current, other), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"entra/current": float64(t0.Add(time.Minute).Unix())}
	if got := gaugesByLabels(t, reg, "scim_auth_token_last_used_timestamp_seconds"); !maps.Equal(got, want) {
		t.Errorf("after reload: last used = %v, want %v", got, want)
	}
	if got := gaugesByLabels(t, reg, "scim_auth_token_not_after_timestamp_seconds"); len(got) != 1 {
		t.Errorf("after reload: not after = %v, want the current token's only", got)
	}
}

// BenchmarkAuthenticate measures a successful authentication, which now also
// records the token's last use (one sync.Map load and an atomic store), from
// parallel requests with the same token, as Entra sends them.
func BenchmarkAuthenticate(b *testing.B) {
	k, err := NewStaticKeyring(&TokenFile{Tokens: []TokenEntry{
		entry("entra", "scim_new", ScopeRead), entry("reader", "scim_reader", ScopeRead), entry("status", "scim_status", ScopeStatus),
	}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Authenticate("Bearer scim_new", now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
