package delivery

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// statusJSON is a webhook's entry of GET /v1/webhooks as the operator's
// poller decodes it.
func statusJSON(t *testing.T, h *harness, name string) string {
	t.Helper()
	b, err := json.Marshal(h.status(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStandbyReportsTheHolderStatus: two replicas of one tenant, one store.
// The lease holder's receiver fails until the webhook is failing; the
// standby replica reports the same entry (state, failingSince, lastError,
// times, cursor), so the operator's poll answers alike whichever replica
// the Service picks. After a resume both report idle without failingSince.
func TestStandbyReportsTheHolderStatus(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	// a's lease outlasts the test's clock steps: b must stay standby.
	a := newHarness(t, nil, clk, "replica-a", func(o *Options) { o.LeaseDuration = 24 * time.Hour })
	b := newHarness(t, a.log, clk, "replica-b")
	rc := newReceiver(t)
	rc.setRespond(func(int, *http.Request, int64) int { return http.StatusServiceUnavailable })
	wh := hook("crm", rc.srv.URL, func(w *webhookconfig.Webhook) {
		w.MaxRetryDuration = webhookconfig.Duration(time.Hour)
		w.Resume = "1"
	})
	a.set(true, wh)
	eventually(t, "a holds the lease", func() bool { return a.status("crm").State == StateIdle }, nil)
	b.set(true, wh)
	a.log.add(3)
	eventually(t, "a failing", func() bool { return a.status("crm").State == StateFailing },
		func() { clk.Step(5 * time.Minute) })

	held := a.status("crm")
	if held.FailingSince == nil || held.LastError == nil || held.LastError.Status != http.StatusServiceUnavailable ||
		!strings.Contains(held.LastError.Message, "receiver says no") {
		t.Fatalf("holder's failing status %+v", held)
	}
	// a stores its status right after it went failing in memory.
	eventually(t, "b reports failing", func() bool { return b.status("crm").State == StateFailing }, nil)
	if s := b.status("crm"); s.State != StateFailing || s.FailingSince == nil || !s.FailingSince.Equal(*held.FailingSince) ||
		s.LastError == nil || *s.LastError != *held.LastError || s.Acked != 0 || s.Lag != 3 {
		t.Fatalf("standby reports %+v, want the holder's %+v", s, held)
	}
	if got, want := statusJSON(t, b, "crm"), statusJSON(t, a, "crm"); got != want {
		t.Fatalf("standby's entry\n%s\nholder's\n%s", got, want)
	}

	rc.setRespond(nil)
	wh.Resume = "2"
	a.set(true, wh)
	b.set(true, wh)
	eventually(t, "a idle after resume", func() bool { s := a.status("crm"); return s.State == StateIdle && s.Lag == 0 }, nil)
	// The cursor is stored when a goes idle, before its status: the status
	// decides when b's report is complete.
	eventually(t, "b reports idle", func() bool { return b.status("crm").State == StateIdle }, nil)
	if got, want := statusJSON(t, b, "crm"), statusJSON(t, a, "crm"); got != want {
		t.Fatalf("after resume, standby's entry\n%s\nholder's\n%s", got, want)
	}
	if s := b.status("crm"); s.FailingSince != nil || s.Acked != 3 {
		t.Fatalf("standby after resume %+v", s)
	}
}

// TestStandbyWithoutStoredStatus: a replica that does not hold the lease
// reports standby (with the stored cursor) while the holder has stored no
// status, and the holder's status once it has. The holder here is another
// replica that exists only as its rows in the store.
func TestStandbyWithoutStoredStatus(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarness(t, nil, clk, "replica-b")
	ctx := context.Background()
	now := clk.Now()
	if _, held, err := h.st.AcquireLease(ctx, "crm", "replica-a", now, now.Add(24*time.Hour)); err != nil || !held {
		t.Fatalf("replica-a's lease: %v %v", held, err)
	}
	if ok, err := h.st.Ack(ctx, "crm", "replica-a", 2, now); err != nil || !ok {
		t.Fatalf("replica-a's ack: %v %v", ok, err)
	}
	h.log.add(5)
	rc := newReceiver(t)
	h.set(true, hook("crm", rc.srv.URL))
	// b tries the lease once at start; wait until it has (acked read).
	eventually(t, "standby with the stored cursor", func() bool { return h.status("crm").Acked == 2 }, nil)

	since := now.Add(-time.Hour)
	doc := `{"state":"failing","lastAttemptAt":"2026-01-01T00:00:00Z","failingSince":"2025-12-31T23:00:00Z",` +
		`"lastError":{"status":502,"message":"bad gateway","at":"2026-01-01T00:00:00Z"}}`
	tests := []struct {
		name  string
		store string // "" stores nothing
		want  WebhookStatus
	}{
		{"nothing stored", "", WebhookStatus{Name: "crm", State: StateStandby, Acked: 2, Lag: 3}},
		{"holder's status stored", doc, WebhookStatus{Name: "crm", State: StateFailing, Acked: 2, Lag: 3,
			LastAttemptAt: &now, FailingSince: &since,
			LastError: &LastError{Status: 502, Message: "bad gateway", At: now}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.store != "" {
				if ok, err := h.st.SetDeliveryStatus(ctx, "crm", "replica-a", []byte(tc.store), now); err != nil || !ok {
					t.Fatalf("SetDeliveryStatus: %v %v", ok, err)
				}
			}
			got, _ := json.Marshal(h.status("crm"))
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Fatalf("status\n%s\nwant\n%s", got, want)
			}
			if n := rc.attemptCount(); n != 0 {
				t.Fatalf("the standby replica sent %d requests", n)
			}
		})
	}
}

// statusWrites is the store with a record of the statuses the holder
// stored through it.
type statusWrites struct {
	State
	mu     sync.Mutex
	states []string
}

func (s *statusWrites) SetDeliveryStatus(ctx context.Context, webhook, owner string, doc []byte, now time.Time) (bool, error) {
	var d storedStatus
	if err := json.Unmarshal(doc, &d); err != nil {
		return false, err
	}
	s.mu.Lock()
	s.states = append(s.states, d.State)
	s.mu.Unlock()
	return s.State.SetDeliveryStatus(ctx, webhook, owner, doc, now)
}

func (s *statusWrites) written() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

// TestStatusStoredOnChangeOnly: delivering 10 events one per request
// stores the status on the state transitions (delivering, idle) and, while
// only the delivered times move, at most once a second (statusInterval):
// never per event. The receiver moves the fake clock by step per request.
func TestStatusStoredOnChangeOnly(t *testing.T) {
	tests := []struct {
		name string
		step time.Duration
		want []string
	}{
		{"clock still: transitions only", 0, []string{StateDelivering, StateIdle}},
		// Delivered at 0.4 s, 0.8 s, ... 4 s: stored at 0.4 (delivering),
		// 1.6, 2.8 and 4.0 (a second or more after the last), then idle.
		{"400ms per request: once a second", 400 * time.Millisecond,
			[]string{StateDelivering, StateDelivering, StateDelivering, StateDelivering, StateIdle}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Now())
			log := newTestLog(t, clk.Now)
			writes := &statusWrites{State: log.st}
			h := newHarness(t, log, clk, "replica-a", func(o *Options) { o.State = writes })
			h.log.add(10)
			rc := newReceiver(t)
			rc.setRespond(func(int, *http.Request, int64) int {
				clk.Step(tc.step)
				return http.StatusNoContent
			})
			h.set(true, hook("crm", rc.srv.URL))
			eventually(t, "10 delivered, idle", func() bool {
				s := h.status("crm")
				return s.State == StateIdle && s.Acked == 10
			}, nil)
			eventually(t, "idle stored", func() bool { w := writes.written(); return len(w) > 0 && w[len(w)-1] == StateIdle }, nil)
			if n := len(rc.requests()); n != 10 {
				t.Fatalf("%d requests, want 10", n)
			}
			if got := writes.written(); !slices.Equal(got, tc.want) {
				t.Fatalf("status writes %v, want %v", got, tc.want)
			}
			// The last write has the last delivery's time.
			_, doc, _, err := log.st.DeliveryStatus(context.Background(), "crm")
			if err != nil {
				t.Fatal(err)
			}
			var d storedStatus
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatal(err)
			}
			if last := h.status("crm").LastDeliveredAt; d.LastDeliveredAt == nil || last == nil || !d.LastDeliveredAt.Equal(*last) {
				t.Fatalf("stored lastDeliveredAt %v, holder's %v", d.LastDeliveredAt, last)
			}
		})
	}
}
