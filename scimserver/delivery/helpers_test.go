package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/server"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// testLog is a tenant's real change log: a SQLite store written through
// its API (each add is one committed write and one event) and read
// through the server's renderer, as cmd/scimserver wires delivery.
type testLog struct {
	t      *testing.T
	st     *store.SQLite
	reader eventlog.Reader

	mu    sync.Mutex
	n     int      // users created so far
	live  []string // ids of users not deleted, newest last
	clock func() time.Time
}

func newTestLog(t *testing.T, now func() time.Time) *testLog {
	st, srv := newTestServer(t, now, &auth.TokenFile{})
	return &testLog{t: t, st: st, reader: srv.Events(), clock: now}
}

// newTestServer opens a fresh SQLite store with clock now and a SCIM
// server over it accepting tokens.
func newTestServer(t testing.TB, now func() time.Time, tokens *auth.TokenFile) (*store.SQLite, *server.Server) {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "scim.db"), store.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kr, err := auth.NewStaticKeyring(tokens)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Store: st, Keyring: kr, Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	return st, srv
}

// add commits n writes, each emitting exactly one event of the next type
// in types (cycling; user.created when empty): user.created creates a
// user, user.updated renames the newest live user, user.deleted deletes it.
func (l *testLog) add(n int, types ...string) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := context.Background()
	for i := range n {
		typ := eventlog.UserCreated
		if len(types) > 0 {
			typ = types[i%len(types)]
		}
		var err error
		switch typ {
		case eventlog.UserCreated:
			l.n++
			id := fmt.Sprintf("u%06d", l.n)
			err = l.st.Create(ctx, &store.Resource{Kind: store.User, ID: id, Doc: map[string]any{
				"userName": id + "@example.com", "active": true, "displayName": "User " + id,
			}})
			l.live = append(l.live, id)
		case eventlog.UserUpdated:
			id := l.live[len(l.live)-1]
			_, err = l.st.Update(ctx, store.User, id, func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
				doc := maps.Clone(cur.Doc)
				doc["displayName"] = fmt.Sprintf("User %s renamed %d", id, i)
				return doc, nil, nil
			})
		case eventlog.UserDeleted:
			id := l.live[len(l.live)-1]
			l.live = l.live[:len(l.live)-1]
			err = l.st.Delete(ctx, store.User, id)
		default:
			l.t.Fatalf("testLog cannot write a %s event", typ)
		}
		if err != nil {
			l.t.Fatalf("%s: %v", typ, err)
		}
	}
}

// pruneBefore deletes the events written before t (the store keeps the
// newest event whatever its age).
func (l *testLog) pruneBefore(t time.Time) {
	l.t.Helper()
	if _, err := l.st.PruneEvents(context.Background(), t); err != nil {
		l.t.Fatal(err)
	}
}

func (l *testLog) Read(ctx context.Context, after int64, limit int) ([]eventlog.Event, error) {
	return l.reader.Read(ctx, after, limit)
}
func (l *testLog) Head(ctx context.Context) (int64, error)     { return l.reader.Head(ctx) }
func (l *testLog) Wait(ctx context.Context, after int64) error { return l.reader.Wait(ctx, after) }

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
	respond  func(n int, r *http.Request, seq int64) int // n: attempts so far, from 0; seq of the first event
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
	n := rc.attempts
	rc.attempts++
	respond := rc.respond
	rc.mu.Unlock()
	code := http.StatusNoContent
	if respond != nil && len(evs) > 0 {
		code = respond(n, r, evs[0].Seq)
	}
	if code >= 200 && code < 300 {
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

func (rc *receiver) setRespond(f func(n int, r *http.Request, seq int64) int) {
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

// harness is a Manager over a real change log and its SQLite store, with
// a fake clock (also the store's, so event times follow it) and fixed
// jitter.
type harness struct {
	t     *testing.T
	log   *testLog
	st    *store.SQLite
	clock *clocktesting.FakeClock
	m     *Manager
	stop  func()
}

// newHarness starts a Manager for replica owner; log nil opens a new
// tenant log, else the replicas share it (and clk must be its clock). opts
// adjust the Manager's options.
func newHarness(t *testing.T, log *testLog, clk *clocktesting.FakeClock, owner string, opts ...func(*Options)) *harness {
	t.Helper()
	if clk == nil {
		clk = clocktesting.NewFakeClock(time.Now())
	}
	if log == nil {
		log = newTestLog(t, clk.Now)
	}
	o := Options{Events: log, State: log.st, Owner: owner, Clock: clk, Jitter: func() float64 { return 0.5 }}
	for _, f := range opts {
		f(&o)
	}
	m, err := New(o)
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
	h := &harness{t: t, log: log, st: log.st, clock: clk, m: m}
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
