package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// memLog is an in-memory eventlog.Reader for the delivery loop's unit
// tests (the SQLite-backed log is exercised by the server tests).
type memLog struct {
	mu      sync.Mutex
	events  []eventlog.Event
	pruned  int64 // events with Seq <= pruned are gone
	changed chan struct{}
}

func newMemLog() *memLog { return &memLog{changed: make(chan struct{})} }

// add appends n events of type typ (cycling through types when empty).
func (l *memLog) add(n int, types ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		seq := int64(len(l.events)) + 1
		typ := eventlog.UserCreated
		if len(types) > 0 {
			typ = types[int(seq-1)%len(types)]
		}
		id := fmt.Sprintf("u%d", seq)
		l.events = append(l.events, eventlog.Event{
			Seq: seq, ID: fmt.Sprintf("evt-%06d", seq), Type: typ,
			Time:         time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
			ResourceType: "User", ResourceID: id,
			Resource: json.RawMessage(fmt.Sprintf(`{"id":%q,"userName":"%s@example.com"}`, id, id)),
		})
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *memLog) prune(through int64) {
	l.mu.Lock()
	l.pruned = through
	l.mu.Unlock()
}

func (l *memLog) Read(_ context.Context, after int64, limit int) ([]eventlog.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after != 0 && after < l.pruned {
		return nil, eventlog.ErrExpired
	}
	from := max(after, l.pruned)
	var out []eventlog.Event
	for _, e := range l.events[from:] {
		if len(out) == limit {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (l *memLog) Head(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events)), nil
}

func (l *memLog) Wait(ctx context.Context, after int64) error {
	for {
		l.mu.Lock()
		ch, n := l.changed, int64(len(l.events))
		l.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// received is one request a receiver accepted.
type received struct {
	id     string
	header http.Header
	body   []byte
	events []eventlog.Event
}

// receiver is a real HTTP server playing a webhook consumer. respond decides
// each answer (nil: 204); only requests answered 2xx are recorded.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	respond  func(n int, r *http.Request) int // n: attempts so far, from 0
	attempts int
	got      []received
	arrived  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, arrived: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := rc.attempts
	rc.attempts++
	respond := rc.respond
	rc.mu.Unlock()
	code := http.StatusNoContent
	if respond != nil {
		code = respond(n, r)
	}
	if code >= 200 && code < 300 {
		var evs []eventlog.Event
		if len(body) > 0 && body[0] == '[' {
			if err := json.Unmarshal(body, &evs); err != nil {
				rc.t.Errorf("batch body: %v", err)
			}
		} else {
			var e eventlog.Event
			if err := json.Unmarshal(body, &e); err != nil {
				rc.t.Errorf("event body: %v", err)
			}
			evs = []eventlog.Event{e}
		}
		rc.mu.Lock()
		rc.got = append(rc.got, received{id: r.Header.Get("webhook-id"), header: r.Header.Clone(), body: body, events: evs})
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
	if code >= 300 {
		_, _ = io.WriteString(w, fmt.Sprintf("receiver says no (%d)", code))
	}
	select {
	case rc.arrived <- struct{}{}:
	default:
	}
}

func (rc *receiver) setRespond(f func(n int, r *http.Request) int) {
	rc.mu.Lock()
	rc.respond = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) attemptCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts
}

// seqs lists the delivered event cursors, in arrival order.
func (rc *receiver) seqs() []int64 {
	var out []int64
	for _, r := range rc.requests() {
		for _, e := range r.events {
			out = append(out, e.Seq)
		}
	}
	return out
}

// testSecret is a fixed whsec_ secret (32 bytes).
func testSecret(b byte) string {
	key := make([]byte, 32)
	for i := range key {
		key[i] = b + byte(i)
	}
	return webhookconfig.SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

func hook(name, url string, mod ...func(*webhookconfig.Webhook)) webhookconfig.Webhook {
	w := webhookconfig.Webhook{
		Name: name, URL: url, Secrets: []string{testSecret(1)},
		MaxRetryDuration: webhookconfig.Duration(72 * time.Hour),
		Timeout:          webhookconfig.Duration(5 * time.Second),
		MaxBatch:         1,
	}
	for _, m := range mod {
		m(&w)
	}
	return w
}

// harness is a Manager over a memLog and a real SQLite store, with a fake
// clock and fixed jitter.
type harness struct {
	t     *testing.T
	log   *memLog
	st    *store.SQLite
	clock *clocktesting.FakeClock
	m     *Manager
	stop  func()
}

func newHarness(t *testing.T, st *store.SQLite, log *memLog, clk *clocktesting.FakeClock, owner string) *harness {
	t.Helper()
	if st == nil {
		var err error
		st, err = store.OpenSQLite(filepath.Join(t.TempDir(), "scim.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
	}
	if log == nil {
		log = newMemLog()
	}
	if clk == nil {
		clk = clocktesting.NewFakeClock(time.Now())
	}
	m, err := New(Options{Events: log, State: st, Owner: owner, Clock: clk, Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	eventually(t, "manager running", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.ctx != nil
	}, nil)
	h := &harness{t: t, log: log, st: st, clock: clk, m: m}
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(h.stop)
	return h
}

func (h *harness) set(allowPrivate bool, ws ...webhookconfig.Webhook) {
	h.m.Update(&webhookconfig.File{Webhooks: ws, AllowPrivateNetworks: allowPrivate})
}

// eventually polls cond until it holds, calling step (e.g. advancing the
// fake clock so pending retries fire) between polls. The bound is only a
// guard against a hang, never a performance assertion.
func eventually(t *testing.T, what string, cond func() bool, step func()) {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		if step != nil {
			step()
		}
		select {
		case <-guard.C:
			t.Fatalf("gave up waiting: %s", what)
		case <-poll.C:
		}
	}
}

func (h *harness) status(name string) WebhookStatus {
	h.t.Helper()
	rep, err := h.m.Status(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, w := range rep.Webhooks {
		if w.Name == name {
			return w
		}
	}
	h.t.Fatalf("no status for webhook %s in %+v", name, rep)
	return WebhookStatus{}
}

// verify checks a recorded request's signature against secret.
func verify(t *testing.T, secret string, r received) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.VerifyIgnoringTimestamp(r.body, r.header)
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}
