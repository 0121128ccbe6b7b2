package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultReloadInterval is how often a Keyring re-reads its token file. The
// file is tiny, so reading it every second is cheaper and more reliable than
// watching: it follows the Kubernetes "..data" symlink swap of a mounted Secret
// for free, because os.ReadFile resolves the symlinks on every read.
const DefaultReloadInterval = time.Second

// Failure reasons reported by Authenticate (and counted in metrics).
const (
	ReasonMissing      = "missing"            // no Authorization header
	ReasonMalformed    = "malformed"          // not "Bearer <token>"
	ReasonUnknown      = "unknown"            // no entry has the token's hash
	ReasonExpired      = "expired"            // the entry's notAfter has passed
	ReasonNotLoaded    = "not_loaded"         // no valid token file was ever read
	ReasonInsufficient = "insufficient_scope" // recorded by the HTTP layer on 403
)

// AuthError is why a request was refused. It never contains the token.
type AuthError struct {
	Reason string
}

func (e *AuthError) Error() string { return "authentication failed: " + e.Reason }

// keyset is one successfully loaded token file, ready for comparisons.
type keyset struct {
	entries []TokenEntry
	hashes  [][sha256.Size]byte // decoded SHA256 of entries[i]
}

// KeyringOptions configures a Keyring.
type KeyringOptions struct {
	// Path is the token file (tokens.json inside the mounted Secret).
	Path string
	// Interval between re-reads; DefaultReloadInterval when zero.
	Interval time.Duration
	// Logger receives reload results; slog.Default() when nil.
	Logger *slog.Logger
}

// Keyring holds the accepted tokens and keeps them in step with the token
// file. The zero value is not usable; build one with NewKeyring or
// NewStaticKeyring. A Keyring is safe for concurrent use.
type Keyring struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	set     atomic.Pointer[keyset]
	mu      sync.Mutex // serialises reloads
	lastRaw []byte     // content of the last file read, valid or not
	lastBad bool       // lastRaw was invalid (so we log it once, not every tick)

	tokensLoaded prometheus.Gauge
	reloads      *prometheus.CounterVec
	failures     *prometheus.CounterVec

	// lastUsed maps a token's hash ([sha256.Size]byte) to the Unix time
	// (*atomic.Int64) of its last successful authentication. Keyed by hash,
	// not by entry, so a reload keeps it; entries gone from the file are no
	// longer reported (and are pruned on install).
	lastUsed     sync.Map
	lastUsedDesc *prometheus.Desc
	notAfterDesc *prometheus.Desc
}

// Token slots in the per-token metrics: among the entries that share a name
// (one ScimToken), the highest revision is current and the others are the
// previous token inside its grace window.
const (
	SlotCurrent  = "current"
	SlotPrevious = "previous"
)

func newKeyring(path string, interval time.Duration, logger *slog.Logger) *Keyring {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	if logger == nil {
		logger = slog.Default()
	}
	k := &Keyring{
		path:     path,
		interval: interval,
		log:      logger,
		tokensLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scim_auth_tokens_loaded",
			Help: "Number of tokens in the currently served token file.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_auth_token_file_reloads_total",
			Help: "Token file reloads by result (ok, error).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_auth_failures_total",
			Help: "Refused requests by reason.",
		}, []string{"reason"}),
	}
	k.lastUsedDesc = prometheus.NewDesc("scim_auth_token_last_used_timestamp_seconds",
		"When this server last authenticated a request with the token, as a Unix time; absent until it is used. "+
			"token is the ScimToken's name, slot is current or previous (the rotated-out token in its grace window).",
		[]string{"token", "slot"}, nil)
	k.notAfterDesc = prometheus.NewDesc("scim_auth_token_not_after_timestamp_seconds",
		"When the token stops being accepted (its expiry, or the end of a previous token's grace window), as a Unix time; absent without one.",
		[]string{"token", "slot"}, nil)
	for _, r := range []string{ReasonMissing, ReasonMalformed, ReasonUnknown, ReasonExpired, ReasonNotLoaded, ReasonInsufficient} {
		k.failures.WithLabelValues(r)
	}
	k.reloads.WithLabelValues("ok")
	k.reloads.WithLabelValues("error")
	return k
}

// NewKeyring reads the token file once and returns a Keyring serving it. A
// missing or invalid file is not fatal: it is logged, Loaded reports false
// (the server is not ready) and every request is refused until a valid file
// appears. Call Run to follow later changes.
func NewKeyring(opts KeyringOptions) *Keyring {
	k := newKeyring(opts.Path, opts.Interval, opts.Logger)
	k.Reload()
	return k
}

// NewStaticKeyring serves a fixed token file; for tests and tools.
func NewStaticKeyring(f *TokenFile) (*Keyring, error) {
	k := newKeyring("", 0, nil)
	ks, err := compile(f)
	if err != nil {
		return nil, err
	}
	k.install(ks)
	return k, nil
}

func compile(f *TokenFile) (*keyset, error) {
	ks := &keyset{entries: append([]TokenEntry(nil), f.Tokens...)}
	ks.hashes = make([][sha256.Size]byte, len(f.Tokens))
	for i, e := range f.Tokens {
		b, err := hex.DecodeString(e.SHA256)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("token file entry %d (%s): sha256 must be 64 hex characters", i, e.Name)
		}
		copy(ks.hashes[i][:], b)
	}
	return ks, nil
}

func (k *Keyring) install(ks *keyset) {
	k.set.Store(ks)
	k.tokensLoaded.Set(float64(len(ks.entries)))
	current := make(map[[sha256.Size]byte]bool, len(ks.hashes))
	for _, h := range ks.hashes {
		current[h] = true
	}
	k.lastUsed.Range(func(key, _ any) bool {
		if !current[key.([sha256.Size]byte)] {
			k.lastUsed.Delete(key)
		}
		return true
	})
}

// markUsed records that the token with hash sum authenticated a request at now.
func (k *Keyring) markUsed(sum [sha256.Size]byte, now time.Time) {
	v, ok := k.lastUsed.Load(sum)
	if !ok {
		v, _ = k.lastUsed.LoadOrStore(sum, new(atomic.Int64))
	}
	v.(*atomic.Int64).Store(now.Unix())
}

// slots names each entry of ks current or previous (see SlotCurrent).
func (ks *keyset) slots() []string {
	newest := map[string]int64{}
	for _, e := range ks.entries {
		if r, ok := newest[e.Name]; !ok || e.Revision > r {
			newest[e.Name] = e.Revision
		}
	}
	out := make([]string, len(ks.entries))
	for i, e := range ks.entries {
		out[i] = SlotCurrent
		if e.Revision < newest[e.Name] {
			out[i] = SlotPrevious
		}
	}
	return out
}

// Loaded reports whether a valid token file has been read.
func (k *Keyring) Loaded() bool { return k.set.Load() != nil }

// Len is the number of tokens served.
func (k *Keyring) Len() int {
	if ks := k.set.Load(); ks != nil {
		return len(ks.entries)
	}
	return 0
}

// Reload re-reads the token file now. It returns an error when the file could
// not be read or is invalid; the previously loaded tokens stay in service.
func (k *Keyring) Reload() error {
	if k.path == "" {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	raw, err := os.ReadFile(k.path)
	if err != nil {
		// During the ..data swap the file can vanish for an instant; keep the
		// last good set and try again on the next tick.
		return k.failed(nil, fmt.Errorf("reading token file: %w", err))
	}
	if k.lastRaw != nil && bytes.Equal(raw, k.lastRaw) {
		if k.lastBad {
			return errors.New("token file unchanged and still invalid")
		}
		return nil
	}
	f, err := ParseTokenFile(raw)
	var ks *keyset
	if err == nil {
		ks, err = compile(f)
	}
	if err != nil {
		return k.failed(raw, err)
	}
	k.lastRaw, k.lastBad = raw, false
	k.install(ks)
	k.reloads.WithLabelValues("ok").Inc()
	k.log.Info("Token file loaded", "path", k.path, "tokens", len(ks.entries))
	return nil
}

// failed records a reload error. raw is the invalid content, or nil when the
// file could not be read at all. Each distinct bad content is logged and
// counted once, not once per tick.
func (k *Keyring) failed(raw []byte, err error) error {
	if raw != nil && k.lastBad && bytes.Equal(raw, k.lastRaw) {
		return err
	}
	if raw != nil {
		k.lastRaw, k.lastBad = raw, true
	}
	k.reloads.WithLabelValues("error").Inc()
	k.log.Error("Token file rejected, keeping the last good tokens", "path", k.path,
		"err", err, "tokensServed", k.Len())
	return err
}

// Run re-reads the token file every interval until ctx ends.
func (k *Keyring) Run(ctx context.Context) {
	if k.path == "" {
		return
	}
	t := time.NewTicker(k.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.Reload()
		}
	}
}

// Authenticate checks an Authorization header value at instant now and
// returns the matching entry. The scheme is matched case-insensitively. The
// token's hash is compared in constant time against every entry, without
// stopping at the first match, so timing does not reveal which entry (or
// whether any) matched. Errors are *AuthError.
func (k *Keyring) Authenticate(header string, now time.Time) (TokenEntry, error) {
	entry, reason := k.authenticate(header, now)
	if reason != "" {
		k.failures.WithLabelValues(reason).Inc()
		return TokenEntry{}, &AuthError{Reason: reason}
	}
	return entry, nil
}

func (k *Keyring) authenticate(header string, now time.Time) (TokenEntry, string) {
	header = strings.TrimSpace(header)
	if header == "" {
		return TokenEntry{}, ReasonMissing
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return TokenEntry{}, ReasonMalformed
	}
	ks := k.set.Load()
	if ks == nil {
		return TokenEntry{}, ReasonNotLoaded
	}
	sum := sha256.Sum256([]byte(token))
	found, idx := 0, 0
	for i := range ks.hashes {
		m := subtle.ConstantTimeCompare(sum[:], ks.hashes[i][:])
		idx = subtle.ConstantTimeSelect(m, i, idx)
		found |= m
	}
	if found == 0 {
		return TokenEntry{}, ReasonUnknown
	}
	e := ks.entries[idx]
	if e.NotAfter != nil && !now.Before(*e.NotAfter) {
		return TokenEntry{}, ReasonExpired
	}
	k.markUsed(sum, now)
	return e, ""
}

// RecordFailure counts a refusal decided outside Authenticate (a 403 for a
// missing scope).
func (k *Keyring) RecordFailure(reason string) { k.failures.WithLabelValues(reason).Inc() }

// Describe implements prometheus.Collector so each server registry can
// include the keyring's metrics.
func (k *Keyring) Describe(ch chan<- *prometheus.Desc) {
	k.tokensLoaded.Describe(ch)
	k.reloads.Describe(ch)
	k.failures.Describe(ch)
	ch <- k.lastUsedDesc
	ch <- k.notAfterDesc
}

// Collect implements prometheus.Collector.
func (k *Keyring) Collect(ch chan<- prometheus.Metric) {
	k.tokensLoaded.Collect(ch)
	k.reloads.Collect(ch)
	k.failures.Collect(ch)
	ks := k.set.Load()
	if ks == nil {
		return
	}
	for i, slot := range ks.slots() {
		e := ks.entries[i]
		if v, ok := k.lastUsed.Load(ks.hashes[i]); ok {
			ch <- prometheus.MustNewConstMetric(k.lastUsedDesc, prometheus.GaugeValue, float64(v.(*atomic.Int64).Load()), e.Name, slot)
		}
		if e.NotAfter != nil {
			ch <- prometheus.MustNewConstMetric(k.notAfterDesc, prometheus.GaugeValue, float64(e.NotAfter.Unix()), e.Name, slot)
		}
	}
}

// Fingerprint is the entry's safe-to-log token identity.
func (e TokenEntry) Fingerprint() string { return FingerprintOfHash(strings.ToLower(e.SHA256)) }
