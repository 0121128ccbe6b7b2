package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/delivery"
)

// deliveryState opens a store and returns it as webhook delivery's state
// (cursor and lease): every backend must keep it, or webhooks of a tenant on
// that backend could not be delivered.
func (b Backend) deliveryState(t testing.TB) delivery.State {
	t.Helper()
	s, ok := b.open(t, nil).(delivery.State)
	if !ok {
		t.Fatal("the store does not implement delivery.State")
	}
	return s
}

// testDeliveryLease walks the lease through its states: first acquire,
// renewal, a second replica refused while the lease lives, takeover after
// it ran out, acks only by the holder, release.
func testDeliveryLease(t *testing.T, b Backend) {
	s := b.deliveryState(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease := 30 * time.Second

	type step struct {
		name      string
		do        func() (int64, bool, error)
		wantAcked int64
		wantHeld  bool
	}
	acquire := func(owner string, at time.Time) func() (int64, bool, error) {
		return func() (int64, bool, error) { return s.AcquireLease(ctx, "hook", owner, at, at.Add(lease)) }
	}
	ack := func(owner string, seq int64, at time.Time) func() (int64, bool, error) {
		return func() (int64, bool, error) {
			ok, err := s.Ack(ctx, "hook", owner, seq, at)
			return seq, ok, err
		}
	}
	steps := []step{
		{"first acquire starts at 0", acquire("a", t0), 0, true},
		{"other replica refused", acquire("b", t0.Add(time.Second)), 0, false},
		{"holder acks", ack("a", 5, t0.Add(2*time.Second)), 5, true},
		{"non-holder ack refused", ack("b", 9, t0.Add(2*time.Second)), 9, false},
		{"holder renews, cursor kept", acquire("a", t0.Add(20*time.Second)), 5, true},
		{"other still refused inside the renewed lease", acquire("b", t0.Add(40*time.Second)), 0, false},
		{"older ack does not move the cursor back", ack("a", 3, t0.Add(41*time.Second)), 3, true},
		{"takeover after expiry keeps the cursor", acquire("b", t0.Add(51*time.Second)), 5, true},
		{"old holder's ack refused after takeover", ack("a", 7, t0.Add(52*time.Second)), 7, false},
	}
	for _, st := range steps {
		acked, held, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if held != st.wantHeld || (held && acked != st.wantAcked) {
			t.Fatalf("%s: got acked=%d held=%v, want acked=%d held=%v", st.name, acked, held, st.wantAcked, st.wantHeld)
		}
	}
	if c, ok, err := s.DeliveryCursor(ctx, "hook"); err != nil || !ok || c != 5 {
		t.Fatalf("DeliveryCursor = %d %v %v, want 5", c, ok, err)
	}
	if err := s.ReleaseLease(ctx, "hook", "b"); err != nil {
		t.Fatal(err)
	}
	if acked, held, err := s.AcquireLease(ctx, "hook", "a", t0.Add(53*time.Second), t0.Add(83*time.Second)); err != nil || !held || acked != 5 {
		t.Fatalf("acquire after release = %d %v %v, want 5 true", acked, held, err)
	}
	if ok, err := s.SetCursor(ctx, "hook", "a", 2, t0.Add(54*time.Second)); err != nil || !ok {
		t.Fatalf("SetCursor = %v %v", ok, err)
	}
	if c, _, _ := s.DeliveryCursor(ctx, "hook"); c != 2 {
		t.Fatalf("cursor after SetCursor = %d, want 2", c)
	}
}

// testDeliveryLeaseRace: many replicas race for a free lease at the same
// instant; exactly one gets it.
func testDeliveryLeaseRace(t *testing.T, b Backend) {
	s := b.deliveryState(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 16
	var wg sync.WaitGroup
	held := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := string(rune('a' + i))
			_, ok, err := s.AcquireLease(ctx, "hook", owner, now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				held <- owner
			}
		}()
	}
	wg.Wait()
	close(held)
	var winners []string
	for o := range held {
		winners = append(winners, o)
	}
	if len(winners) != 1 {
		t.Fatalf("lease holders = %v, want exactly one", winners)
	}
}

// testDeliveryStatus: the holder's status document is written only by the
// lease holder (compare-and-set on owner, like Ack), read back as written
// with the cursor, survives acks and a release (the next holder overwrites
// it), and a webhook without a row has neither.
func testDeliveryStatus(t *testing.T, b Backend) {
	s := b.deliveryState(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease := 30 * time.Second
	failing := []byte(`{"state":"failing","failingSince":"2026-01-01T00:00:03Z","lastError":{"status":503,"message":"down","at":"2026-01-01T00:00:03Z"}}`)
	idle := []byte(`{"state":"idle","lastDeliveredAt":"2026-01-01T00:01:00Z"}`)

	if acked, doc, ok, err := s.DeliveryStatus(ctx, "hook"); err != nil || ok || doc != nil || acked != 0 {
		t.Fatalf("absent row: DeliveryStatus = %d %q %v %v, want 0 nil false", acked, doc, ok, err)
	}
	acquire := func(owner string, at time.Time) func() (bool, error) {
		return func() (bool, error) {
			_, held, err := s.AcquireLease(ctx, "hook", owner, at, at.Add(lease))
			return held, err
		}
	}
	set := func(owner string, doc []byte, at time.Time) func() (bool, error) {
		return func() (bool, error) { return s.SetDeliveryStatus(ctx, "hook", owner, doc, at) }
	}
	steps := []struct {
		name      string
		do        func() (bool, error)
		wantOK    bool
		wantAcked int64
		wantDoc   []byte // nil: none stored
	}{
		{"no row: nothing to set", set("a", idle, t0), false, 0, nil},
		{"a acquires: no status yet", acquire("a", t0), true, 0, nil},
		{"holder stores its status", set("a", failing, t0.Add(3*time.Second)), true, 0, failing},
		{"non-holder refused, status kept", set("b", idle, t0.Add(4*time.Second)), false, 0, failing},
		{"an ack keeps the status", func() (bool, error) { return s.Ack(ctx, "hook", "a", 4, t0.Add(5*time.Second)) }, true, 4, failing},
		{"release keeps the status", func() (bool, error) { return true, s.ReleaseLease(ctx, "hook", "a") }, true, 4, failing},
		{"former holder refused after release", set("a", idle, t0.Add(6*time.Second)), false, 4, failing},
		{"b takes the lease", acquire("b", t0.Add(7*time.Second)), true, 4, failing},
		{"new holder overwrites", set("b", idle, t0.Add(60*time.Second)), true, 4, idle},
		{"old holder refused after takeover", set("a", failing, t0.Add(61*time.Second)), false, 4, idle},
	}
	for _, st := range steps {
		ok, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ok != st.wantOK {
			t.Fatalf("%s: got %v, want %v", st.name, ok, st.wantOK)
		}
		acked, doc, exists, err := s.DeliveryStatus(ctx, "hook")
		if err != nil {
			t.Fatalf("%s: DeliveryStatus: %v", st.name, err)
		}
		if !exists != (st.name == "no row: nothing to set") {
			t.Fatalf("%s: row exists = %v", st.name, exists)
		}
		if acked != st.wantAcked || string(doc) != string(st.wantDoc) || (doc == nil) != (st.wantDoc == nil) {
			t.Fatalf("%s: DeliveryStatus = %d %q, want %d %q", st.name, acked, doc, st.wantAcked, st.wantDoc)
		}
	}
}

// upgradeTime is when the delivery row of the upgrade check was written.
var upgradeTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteDeliveryBeforeUpgrade writes a delivery row, held by replica "a" at
// cursor 7, with the methods a schema before the status column has; s is
// the store opened at that older schema. CheckDeliveryAfterUpgrade checks
// the row once the store was reopened at the latest schema.
func WriteDeliveryBeforeUpgrade(t testing.TB, s delivery.State) {
	t.Helper()
	ctx := context.Background()
	if _, held, err := s.AcquireLease(ctx, "hook", "a", upgradeTime, upgradeTime.Add(time.Hour)); err != nil || !held {
		t.Fatalf("AcquireLease before the upgrade: %v %v", held, err)
	}
	if ok, err := s.Ack(ctx, "hook", "a", 7, upgradeTime); err != nil || !ok {
		t.Fatalf("Ack before the upgrade: %v %v", ok, err)
	}
}

// CheckDeliveryAfterUpgrade: the row WriteDeliveryBeforeUpgrade wrote kept
// its cursor and lease, has no status (standby replicas report standby
// until the holder stores one), and its holder can store one.
func CheckDeliveryAfterUpgrade(t testing.TB, s delivery.State) {
	t.Helper()
	ctx := context.Background()
	if acked, doc, ok, err := s.DeliveryStatus(ctx, "hook"); err != nil || !ok || acked != 7 || doc != nil {
		t.Fatalf("after the upgrade DeliveryStatus = %d %q %v %v, want 7 nil true", acked, doc, ok, err)
	}
	doc := []byte(`{"state":"idle"}`)
	if ok, err := s.SetDeliveryStatus(ctx, "hook", "a", doc, upgradeTime); err != nil || !ok {
		t.Fatalf("the lease holder from before the upgrade cannot store its status: %v %v", ok, err)
	}
	if _, got, _, err := s.DeliveryStatus(ctx, "hook"); err != nil || string(got) != string(doc) {
		t.Fatalf("stored status %q (%v), want %q", got, err, doc)
	}
}
