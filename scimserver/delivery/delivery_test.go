package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

func TestOrderedDelivery(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	h.log.add(30)
	h.set(true, hook("crm", rc.srv.URL))
	h.log.add(20) // arrives while delivering / idle
	eventually(t, "50 events delivered", func() bool { return len(rc.seqs()) == 50 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 50)) {
		t.Fatalf("delivered %v, want 1..50 in order", got)
	}
	for _, r := range rc.requests() {
		if err := verify(t, testSecret(1), r); err != nil {
			t.Fatalf("request %s: %v", r.id, err)
		}
		if r.id != r.events[0].ID {
			t.Fatalf("webhook-id %q, want the event id %q", r.id, r.events[0].ID)
		}
	}
	eventually(t, "idle with lag 0", func() bool {
		s := h.status("crm")
		return s.State == StateIdle && s.Lag == 0 && s.Acked == 50 && s.LastDeliveredAt != nil
	}, nil)
	eventually(t, "cursor persisted", func() bool {
		c, _, _ := h.st.DeliveryCursor(context.Background(), "crm")
		return c == 50
	}, nil)
}

// TestRecoversInOrder: the receiver answers 500, then hangs past the
// timeout, then recovers. Every event arrives, in order, none lost, and
// no event is sent before the previous one was acknowledged.
func TestRecoversInOrder(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	var mu sync.Mutex
	var order []int64 // seq of every attempt, in arrival order
	rc.setRespond(func(n int, r *http.Request, seq int64) int {
		mu.Lock()
		order = append(order, seq)
		mu.Unlock()
		switch {
		case n >= 3 && n < 6:
			return http.StatusInternalServerError
		case n >= 6 && n < 8:
			<-r.Context().Done() // hang until the sender gives up
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	h.log.add(10)
	h.set(true, hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Timeout = webhookconfig.Duration(200 * time.Millisecond) }))
	eventually(t, "10 events after recovery", func() bool { return len(rc.seqs()) == 10 },
		func() { h.clock.Step(time.Minute) })
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 10)) {
		t.Fatalf("delivered %v, want 1..10 in order", got)
	}
	// Attempts: 1,2,3 ok; 4 fails 3× (500) and 2× (timeout), then 4..10.
	want := []int64{1, 2, 3, 4, 4, 4, 4, 4, 4, 5, 6, 7, 8, 9, 10}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Fatalf("attempts %d (%v), want %v", rc.attemptCount(), order, want)
	}
	s := h.status("crm")
	if s.LastError == nil || s.LastError.Status != 0 || !strings.Contains(s.LastError.Message, "timeout") {
		t.Fatalf("last error %+v, want the timeout", s.LastError)
	}
}

func TestFilteredTypesAdvanceTheCursor(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	h.log.add(30, eventlog.UserCreated, eventlog.UserUpdated, eventlog.UserDeleted)
	h.set(true, hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) {
		w.EventTypes = []string{eventlog.UserUpdated}
	}))
	eventually(t, "cursor at the head", func() bool { s := h.status("crm"); return s.Acked == 30 && s.State == StateIdle }, nil)
	var want []int64
	for s := int64(2); s <= 30; s += 3 {
		want = append(want, s)
	}
	if got := rc.seqs(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want only the user.updated events %v", got, want)
	}
	// Only unwanted events after that: the cursor (and lag) still move.
	h.log.add(1, eventlog.UserCreated)
	h.log.add(1, eventlog.UserDeleted)
	eventually(t, "cursor past unwanted events", func() bool { s := h.status("crm"); return s.Acked == 32 && s.Lag == 0 }, nil)
	if n := len(rc.seqs()); n != len(want) {
		t.Fatalf("unwanted events were sent: %d requests", n)
	}
}

func TestPausedSendsNothingThenContinues(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	paused := hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Paused = true })
	h.set(true, paused)
	h.log.add(5)
	eventually(t, "paused", func() bool { return h.status("crm").State == StatePaused }, nil)
	if s := h.status("crm"); s.Lag != 5 || rc.attemptCount() != 0 {
		t.Fatalf("paused webhook: lag %d, %d requests; want lag 5, none", s.Lag, rc.attemptCount())
	}
	paused.Paused = false
	h.set(true, paused)
	eventually(t, "delivered after unpause", func() bool { return len(rc.seqs()) == 5 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 5)) {
		t.Fatalf("delivered %v", got)
	}
}

// TestFailingAfterMaxRetryThenResume: a receiver down longer than
// maxRetryDuration (fake clock) makes the webhook failing; it sends nothing
// more, drops nothing, and delivers everything in order after a resume.
func TestFailingAfterMaxRetryThenResume(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	rc.setRespond(func(int, *http.Request, int64) int { return http.StatusServiceUnavailable })
	h.log.add(3)
	wh := hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) {
		w.MaxRetryDuration = webhookconfig.Duration(time.Hour)
		w.Resume = "1"
	})
	h.set(true, wh)
	eventually(t, "failing", func() bool { return h.status("crm").State == StateFailing },
		func() { h.clock.Step(5 * time.Minute) })
	s := h.status("crm")
	if s.FailingSince == nil || s.LastError == nil || s.LastError.Status != http.StatusServiceUnavailable ||
		!strings.Contains(s.LastError.Message, "receiver says no") || s.Lag != 3 || s.Acked != 0 {
		t.Fatalf("failing status %+v", s)
	}
	attempts := rc.attemptCount()
	// Failing waits: time passing sends nothing.
	for range 10 {
		h.clock.Step(time.Hour)
	}
	h.log.add(2)
	rc.setRespond(nil)
	if n := rc.attemptCount(); n != attempts || h.status("crm").State != StateFailing {
		t.Fatalf("failing webhook made %d more attempts or left failing", n-attempts)
	}
	wh.Resume = "2"
	h.set(true, wh)
	eventually(t, "all 5 delivered after resume", func() bool { return len(rc.seqs()) == 5 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 5)) {
		t.Fatalf("delivered %v", got)
	}
	eventually(t, "idle", func() bool { s := h.status("crm"); return s.State == StateIdle && s.FailingSince == nil }, nil)
}

// TestSecretRotation: during the grace window every request carries one
// signature per secret, and each secret alone verifies it.
func TestSecretRotation(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	oldS, newS := testSecret(1), testSecret(100)
	h.set(true, hook("crm", rc.srv.URL))
	h.log.add(2)
	eventually(t, "before rotation", func() bool { return len(rc.seqs()) == 2 }, nil)
	h.set(true, hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Secrets = []string{newS, oldS} }))
	h.log.add(2)
	eventually(t, "during grace", func() bool { return len(rc.seqs()) == 4 }, nil)
	h.set(true, hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Secrets = []string{newS} }))
	h.log.add(2)
	eventually(t, "after grace", func() bool { return len(rc.seqs()) == 6 }, nil)
	for i, r := range rc.requests() {
		sigs := strings.Fields(r.header.Get("webhook-signature"))
		wantOld, wantNew, wantSigs := i < 4, i >= 2, 1
		if i == 2 || i == 3 {
			wantSigs = 2
		}
		if len(sigs) != wantSigs {
			t.Errorf("request %d: %d signatures, want %d", i, len(sigs), wantSigs)
		}
		if err := verify(t, oldS, r); (err == nil) != wantOld {
			t.Errorf("request %d: old secret verifies = %v, want %v", i, err == nil, wantOld)
		}
		if err := verify(t, newS, r); (err == nil) != wantNew {
			t.Errorf("request %d: new secret verifies = %v, want %v", i, err == nil, wantNew)
		}
	}
}

func TestBatching(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	h.log.add(25, eventlog.UserCreated, eventlog.UserCreated, eventlog.UserDeleted)
	h.set(true, hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) {
		w.MaxBatch = 7
		w.EventTypes = []string{eventlog.UserCreated}
	}))
	eventually(t, "cursor at head", func() bool { return h.status("crm").Acked == 25 }, nil)
	var sizes []int
	for _, r := range rc.requests() {
		sizes = append(sizes, len(r.events))
		if !strings.HasPrefix(r.id, "batch_") || r.body[0] != '[' {
			t.Errorf("batch request id %q body %.20s: want a batch_ id and a JSON array", r.id, r.body)
		}
		if err := verify(t, testSecret(1), r); err != nil {
			t.Error(err)
		}
	}
	var want []int64
	for s := int64(1); s <= 25; s++ {
		if s%3 != 0 {
			want = append(want, s)
		}
	}
	if got := rc.seqs(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if !slices.Equal(sizes, []int{7, 7, 3}) {
		t.Fatalf("batch sizes %v, want [7 7 3]", sizes)
	}
	// The id is derived from the events: the same events, the same id.
	c, _ := compile(hook("x", "http://x", func(w *webhookconfig.Webhook) { w.MaxBatch = 7 }), true)
	m1, _ := encode(c, rc.requests()[0].events)
	if m1.id != rc.requests()[0].id {
		t.Fatalf("batch id not deterministic: %s vs %s", m1.id, rc.requests()[0].id)
	}
}

// TestRefusesPrivateAddresses: without allowPrivateNetworks a receiver on
// loopback never gets a request, and the status says why.
func TestRefusesPrivateAddresses(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	h.log.add(1)
	h.set(false, hook("crm", rc.srv.URL))
	eventually(t, "refusal reported", func() bool {
		s := h.status("crm")
		return s.LastError != nil
	}, nil)
	s := h.status("crm")
	if !strings.Contains(s.LastError.Message, "loopback") || !strings.Contains(s.LastError.Message, "--webhook-allow-private-networks") {
		t.Fatalf("last error %q: want it to name the loopback address and the flag", s.LastError.Message)
	}
	if rc.attemptCount() != 0 {
		t.Fatalf("receiver got %d requests", rc.attemptCount())
	}
}

func TestForbiddenAddresses(t *testing.T) {
	for _, tc := range []struct {
		ip, want string
	}{
		{"127.0.0.1", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"169.254.169.254", "link-local (cloud metadata)"},
		{"fe80::1", "link-local (cloud metadata)"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd00:ec2::254", "private"},
		{"100.64.0.1", "private"},
		{"0.0.0.0", "unspecified"},
		{"239.1.2.3", "multicast"},
		{"8.8.8.8", ""},
		{"2606:4700::1111", ""},
	} {
		if got := forbidden(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("forbidden(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

// TestOneReplicaDelivers: two managers (replicas) on one database; each
// event reaches the receiver exactly once; when the holder stops, the
// other takes over from the stored cursor.
func TestOneReplicaDelivers(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	a := newHarness(t, nil, clk, "replica-a")
	b := newHarness(t, a.log, clk, "replica-b")
	rc := newReceiver(t)
	a.set(true, hook("crm", rc.srv.URL))
	eventually(t, "a holds the lease", func() bool { return a.status("crm").State == StateIdle }, nil)
	b.set(true, hook("crm", rc.srv.URL))
	a.log.add(20)
	eventually(t, "20 delivered", func() bool { return len(rc.seqs()) == 20 }, nil)
	eventually(t, "a idle", func() bool { return a.status("crm").State == StateIdle }, nil)
	// b does not deliver but reports what a stored (state, times, cursor).
	eventually(t, "b reports a's status", func() bool {
		return statusJSON(t, b, "crm") == statusJSON(t, a, "crm")
	}, nil)
	if s := b.status("crm"); s.State != StateIdle || s.Acked != 20 {
		t.Fatalf("replica b reports %+v, want a's idle at 20", s)
	}
	a.stop() // graceful: cursor written, lease released
	a.log.add(5)
	// b retries the lease a third of a lease later; the lease a held would
	// still run for two thirds, so b gets it only because a released it.
	clk.Step(DefaultLeaseDuration / 3)
	eventually(t, "b took over", func() bool { return len(rc.seqs()) == 25 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 25)) {
		t.Fatalf("delivered %v, want 1..25 once each", got)
	}
}

// TestCursorExpired: a cursor behind the retained log stops delivery
// (nothing is silently skipped); a resume continues from the oldest
// retained event, so a receiver that re-read the directory misses nothing.
func TestCursorExpired(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	wh := hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Paused = true })
	h.set(true, wh)
	h.log.add(5)
	h.clock.Step(time.Hour) // events 1..5 are an hour older than 6..10
	cut := h.clock.Now()
	h.log.add(5)
	eventually(t, "paused", func() bool { return h.status("crm").State == StatePaused }, nil)
	if ok, err := h.st.Ack(context.Background(), "crm", "a", 2, h.clock.Now()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	h.stop()
	h2 := newHarness(t, h.log, h.clock, "a")
	h.log.pruneBefore(cut) // the retention took 1..5; the cursor (2) needs 3 next
	wh.Paused = false
	h2.set(true, wh)
	eventually(t, "expired", func() bool { return h2.status("crm").State == StateExpired }, nil)
	h2.log.add(1)
	if rc.attemptCount() != 0 {
		t.Fatalf("expired webhook sent %d requests", rc.attemptCount())
	}
	wh.Resume = "resynced"
	h2.set(true, wh)
	eventually(t, "retained events after resync", func() bool { return len(rc.seqs()) == 6 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(6, 11)) {
		t.Fatalf("after resync delivered %v, want the retained 6..11", got)
	}
}

func TestBackoffSchedule(t *testing.T) {
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{0, 0, 500 * time.Millisecond},
		{0, 0.999999, time.Second},
		{3, 0, 4 * time.Second},
		{9, 0.5, 384 * time.Second},
		{10, 0, 450 * time.Second},
		{50, 0.5, 675 * time.Second},
	} {
		got := backoff(tc.n, tc.jitter)
		if got.Round(time.Millisecond) != tc.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.n, tc.jitter, got, tc.want)
		}
	}
}

// TestLeaseOutlastsARequest: a request started just before renewal is due
// ends (by its timeout) before the lease runs out, so no other replica can
// send while it is in flight.
func TestLeaseOutlastsARequest(t *testing.T) {
	for _, timeout := range []time.Duration{time.Second, 10 * time.Second, 5 * time.Minute} {
		c, err := compile(hook("x", "http://x", func(w *webhookconfig.Webhook) { w.Timeout = webhookconfig.Duration(timeout) }), true)
		if err != nil {
			t.Fatal(err)
		}
		length := leaseLength(DefaultLeaseDuration, c)
		if left := length - length/3; left <= timeout {
			t.Errorf("timeout %s: lease %s leaves %s after the renewal point, not more than the request timeout", timeout, length, left)
		}
	}
}

// TestLastErrorKeepsAShortPrefix: a failing receiver's body reaches the
// status only as its first 256 bytes.
func TestLastErrorKeepsAShortPrefix(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	big := strings.Repeat("x", 10<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "upstream broke: "+big)
	}))
	defer srv.Close()
	h.log.add(1)
	h.set(true, hook("crm", srv.URL))
	eventually(t, "failure recorded", func() bool { return h.status("crm").LastError != nil }, nil)
	e := h.status("crm").LastError
	if e.Status != http.StatusBadGateway || len(e.Message) != 256 || !strings.HasPrefix(e.Message, "upstream broke: xxx") {
		t.Fatalf("last error status %d, message of %d bytes %.40q…; want 502 and the body's first 256 bytes", e.Status, len(e.Message), e.Message)
	}
}
