package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// Delivery states, as the status endpoint reports them.
const (
	StateDelivering = "delivering" // events are being sent (or retried)
	StateIdle       = "idle"       // everything acknowledged; waiting for events
	StateFailing    = "failing"    // retries exhausted; waits for a resume
	StatePaused     = "paused"     // spec.paused
	StateExpired    = "expired"    // the cursor fell out of retention; resync, then resume
	StateStandby    = "standby"    // another replica holds the lease and delivers
)

// worker is the delivery loop of one webhook.
type worker struct {
	m    *Manager
	name string
	cfg  atomic.Pointer[compiled]
	wake chan struct{} // settings changed
	ctx  context.Context
	stop context.CancelFunc

	mu sync.Mutex
	st status // guarded by mu; read by Status
}

// status is a worker's observable state.
type status struct {
	state           string
	acked           int64 // cursor as delivered (may be ahead of the stored one by < AckInterval)
	lastDeliveredAt time.Time
	lastAttemptAt   time.Time
	failingSince    time.Time
	lastError       *attemptError
	lastErrorAt     time.Time
}

func newWorker(m *Manager, c *compiled) *worker {
	w := &worker{m: m, name: c.Name, wake: make(chan struct{}, 1)}
	w.ctx, w.stop = context.WithCancel(m.ctx)
	w.cfg.Store(c)
	w.st.state = StateStandby
	return w
}

func (w *worker) configure(c *compiled) {
	w.cfg.Store(c)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) update(f func(*status)) {
	w.mu.Lock()
	f(&w.st)
	w.mu.Unlock()
}

func (w *worker) status() status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// loop is the mutable state of run.
type loop struct {
	held       bool
	renewAt    time.Time // next lease renewal
	acked      int64     // delivered cursor
	stored     int64     // cursor written to the store
	storedAt   time.Time
	resume     string    // Resume seen when the failing/expired state began
	failed     time.Time // first failure of the current event, zero when none
	attempt    int       // retries so far of the current event
	retryAt    time.Time // no attempt before
	terminal   string    // StateFailing or StateExpired, "" otherwise
	lastLogged string
	// published is the status last written to the store for the standby
	// replicas' reports, at publishedAt.
	published   status
	publishedAt time.Time
	// pending are events read after acked and not yet delivered: one read
	// of the log serves many deliveries.
	pending []eventlog.Event
}

// advance moves the delivered cursor to through and drops the events it
// covers from pending.
func (l *loop) advance(through int64) {
	l.acked = through
	i := 0
	for i < len(l.pending) && l.pending[i].Seq <= through {
		i++
	}
	l.pending = l.pending[i:]
}

func (w *worker) run() {
	m, ctx := w.m, w.ctx
	var l loop
	l.resume = w.cfg.Load().Resume
	defer func() {
		// Stop: persist what was delivered and let another replica (or
		// the next start) take over without waiting for the lease.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if l.held {
			w.persist(sctx, &l, true)
			if err := m.o.State.ReleaseLease(sctx, w.name, m.o.Owner); err != nil {
				m.log.Warn("Releasing the delivery lease", "webhook", w.name, "err", err)
			}
		}
	}()
	for ctx.Err() == nil {
		c := w.cfg.Load()
		now := m.o.Clock.Now()
		if !l.held || !now.Before(l.renewAt) {
			if !w.lease(ctx, &l, now) {
				w.wait(ctx, m.o.LeaseDuration/3, -1)
				continue
			}
		}
		if c.Resume != l.resume {
			w.resumed(ctx, &l, c)
		}
		switch {
		case c.Paused:
			w.persist(ctx, &l, true)
			w.update(func(s *status) { s.state = StatePaused })
			w.publish(ctx, &l)
			w.wait(ctx, l.renewAt.Sub(now), -1)
			continue
		case l.terminal != "":
			w.update(func(s *status) { s.state = l.terminal })
			w.publish(ctx, &l)
			w.wait(ctx, l.renewAt.Sub(now), -1)
			continue
		case now.Before(l.retryAt):
			w.publish(ctx, &l)
			w.wait(ctx, min(l.retryAt.Sub(now), l.renewAt.Sub(now)), -1)
			continue
		}
		if len(l.pending) == 0 {
			events, err := m.o.Events.Read(ctx, l.acked, m.o.ReadLimit)
			if !w.readDone(ctx, &l, c, err) {
				continue
			}
			l.pending = events
		}
		if len(l.pending) == 0 {
			w.persist(ctx, &l, true)
			w.update(func(s *status) { s.state = StateIdle })
			w.publish(ctx, &l)
			w.wait(ctx, l.renewAt.Sub(now), l.acked)
			continue
		}
		batch, through := pick(c, l.pending)
		if len(batch) == 0 {
			l.advance(through) // filtered out: nothing to send
			w.update(func(s *status) { s.acked = through })
			w.persist(ctx, &l, false)
			continue
		}
		w.deliver(ctx, &l, c, batch, through)
		w.publish(ctx, &l)
	}
}

// readDone handles the error of a read of the log; false means retry the
// loop (the webhook expired, or the store failed and was waited out).
func (w *worker) readDone(ctx context.Context, l *loop, c *compiled, err error) bool {
	m := w.m
	if errors.Is(err, eventlog.ErrExpired) {
		l.terminal, l.resume = StateExpired, c.Resume
		m.log.Error("Webhook cursor expired: events it never received were pruned; resync the receiver from SCIM, then resume the webhook",
			"webhook", w.name, "acked", l.acked)
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("Reading the change log", "webhook", w.name, "err", err)
			w.wait(ctx, time.Second, -1)
		}
		return false
	}
	return true
}

// pick chooses the next request's events: up to MaxBatch wanted events in
// order, and the cursor that is acknowledged once they are delivered
// (which covers unwanted events before and between them, and after them
// when the read is exhausted).
func pick(c *compiled, events []eventlog.Event) (batch []eventlog.Event, through int64) {
	for i, e := range events {
		if !c.Wants(e.Type) {
			through = e.Seq
			continue
		}
		if len(batch) == c.MaxBatch {
			return batch, events[i-1].Seq
		}
		batch = append(batch, e)
		through = e.Seq
	}
	return batch, through
}

// deliver makes one attempt at batch.
func (w *worker) deliver(ctx context.Context, l *loop, c *compiled, batch []eventlog.Event, through int64) {
	m := w.m
	w.update(func(s *status) { s.state = StateDelivering })
	msg, err := encode(c, batch)
	if err != nil { // cannot happen for events read from the log
		m.log.Error("Encoding events", "webhook", w.name, "err", err)
		w.wait(ctx, time.Second, -1)
		return
	}
	at := m.o.Clock.Now()
	err = post(ctx, m.client(c), c, msg, at)
	if ctx.Err() != nil {
		return // stopping; the batch is sent again by whoever continues
	}
	now := m.o.Clock.Now()
	if err == nil {
		l.advance(through)
		l.failed, l.attempt, l.retryAt = time.Time{}, 0, time.Time{}
		w.update(func(s *status) { s.acked, s.lastDeliveredAt, s.lastAttemptAt = through, now, at })
		m.metrics.delivered(w.name, len(batch))
		w.persist(ctx, l, false)
		return
	}
	var ae *attemptError
	if !errors.As(err, &ae) {
		ae = &attemptError{Message: err.Error()}
	}
	m.metrics.failed(w.name)
	if l.failed.IsZero() {
		l.failed = at
	}
	w.update(func(s *status) { s.lastAttemptAt, s.lastError, s.lastErrorAt = at, ae, now })
	if now.Sub(l.failed) >= c.MaxRetryDuration.D() {
		l.terminal, l.resume = StateFailing, c.Resume
		w.update(func(s *status) { s.state, s.failingSince = StateFailing, now })
		m.log.Error("Webhook failing: retries exhausted; fix the receiver, then resume the webhook (annotation scim.operator.dev/resume)",
			"webhook", w.name, "since", l.failed, "seq", batch[0].Seq, "lastError", ae.Error())
		return
	}
	d := backoff(l.attempt, m.o.Jitter())
	l.attempt++
	l.retryAt = now.Add(d)
	if msg := ae.Error(); msg != l.lastLogged || l.attempt == 1 {
		l.lastLogged = msg
		m.log.Warn("Webhook delivery failed; retrying", "webhook", w.name, "seq", batch[0].Seq,
			"attempt", l.attempt, "retryIn", d.String(), "err", msg)
	}
}

// resumed handles a change of the resume token: a failing webhook retries
// at once with a fresh retry budget; an expired one continues from the
// oldest retained event. The receiver re-reads the directory over SCIM
// after the cursor expired (before or after resuming): every change after
// that snapshot is still retained and is delivered again, applied
// idempotently, so nothing is missed whenever the snapshot was taken
// (continuing from the head instead would lose the changes between the
// snapshot and the resume).
func (w *worker) resumed(ctx context.Context, l *loop, c *compiled) {
	m := w.m
	l.resume = c.Resume
	switch l.terminal {
	case StateFailing:
		m.log.Info("Webhook resumed", "webhook", w.name)
	case StateExpired:
		if ok, err := m.o.State.SetCursor(ctx, w.name, m.o.Owner, 0, m.o.Clock.Now()); err != nil || !ok {
			return
		}
		l.acked, l.stored, l.pending = 0, 0, nil
		m.log.Info("Webhook resumed after its cursor expired: continuing from the oldest retained event", "webhook", w.name)
	default:
		return
	}
	l.terminal, l.failed, l.attempt, l.retryAt = "", time.Time{}, 0, time.Time{}
	w.update(func(s *status) { s.failingSince = time.Time{}; s.acked = l.acked })
}

// lease takes or renews the lease; false when another replica holds it or
// the store failed.
func (w *worker) lease(ctx context.Context, l *loop, now time.Time) bool {
	m := w.m
	length := leaseLength(m.o.LeaseDuration, w.cfg.Load())
	acked, held, err := m.o.State.AcquireLease(ctx, w.name, m.o.Owner, now, now.Add(length))
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("Delivery lease", "webhook", w.name, "err", err)
		}
		return false
	}
	if !held {
		if l.held {
			m.log.Warn("Delivery lease lost to another replica", "webhook", w.name)
		}
		l.held = false
		w.update(func(s *status) { s.state = StateStandby; s.acked = acked })
		return false
	}
	if !l.held { // (re)acquired: continue from the stored cursor
		l.acked, l.stored, l.storedAt, l.pending = acked, acked, now, nil
		l.retryAt, l.attempt, l.failed = time.Time{}, 0, time.Time{}
		l.published, l.publishedAt = status{}, time.Time{} // the store holds the previous holder's
		w.update(func(s *status) { s.acked = acked })
	}
	l.held, l.renewAt = true, now.Add(length/3)
	return true
}

// leaseLength is how long a lease is taken for: at least twice the
// webhook's request timeout, so that a request started before the renewal
// is due (at a third of the length) ends before the lease could run out
// and another replica could start sending in parallel.
func leaseLength(base time.Duration, c *compiled) time.Duration {
	return max(base, 2*c.Timeout.D())
}

// persist writes the delivered cursor to the store, at most every
// AckInterval unless force.
func (w *worker) persist(ctx context.Context, l *loop, force bool) {
	m := w.m
	if l.acked == l.stored || !l.held {
		return
	}
	now := m.o.Clock.Now()
	if !force && now.Sub(l.storedAt) < m.o.AckInterval {
		return
	}
	ok, err := m.o.State.Ack(ctx, w.name, m.o.Owner, l.acked, now)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("Writing the delivery cursor", "webhook", w.name, "err", err)
		}
		return
	}
	if !ok {
		l.held = false
		m.log.Warn("Delivery lease lost to another replica", "webhook", w.name)
		return
	}
	l.stored, l.storedAt = l.acked, now
}

// statusInterval bounds how often the holder stores its status when only
// times moved (a delivered batch, another failed attempt with the same
// error); a new state, failingSince or error is stored at once.
const statusInterval = time.Second

// publish stores the holder's status for the standby replicas' reports
// when it changed (see statusInterval), so that GET /v1/webhooks answers
// the same whichever replica the Service picks.
func (w *worker) publish(ctx context.Context, l *loop) {
	m := w.m
	s := w.status()
	if !l.held || s.state == StateStandby {
		return
	}
	now := m.o.Clock.Now()
	p := l.published
	changed := s.state != p.state || !s.failingSince.Equal(p.failingSince) || !sameError(s.lastError, p.lastError)
	moved := !s.lastDeliveredAt.Equal(p.lastDeliveredAt) || !s.lastAttemptAt.Equal(p.lastAttemptAt) ||
		!s.lastErrorAt.Equal(p.lastErrorAt)
	if !changed && (!moved || now.Sub(l.publishedAt) < statusInterval) {
		return
	}
	doc, err := json.Marshal(s.stored())
	if err != nil { // cannot happen: times and strings
		m.log.Error("Encoding the delivery status", "webhook", w.name, "err", err)
		return
	}
	ok, err := m.o.State.SetDeliveryStatus(ctx, w.name, m.o.Owner, doc, now)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("Writing the delivery status", "webhook", w.name, "err", err)
		}
		return // l.published unchanged: written again at the next publish
	}
	if !ok {
		l.held = false
		m.log.Warn("Delivery lease lost to another replica", "webhook", w.name)
		return
	}
	l.published, l.publishedAt = s, now
}

func sameError(a, b *attemptError) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// wait blocks for d, until the settings change or ctx ends, and, when
// after ≥ 0, until an event after that cursor exists.
func (w *worker) wait(ctx context.Context, d time.Duration, after int64) {
	if d <= 0 {
		d = time.Millisecond
	}
	t := w.m.o.Clock.NewTimer(d)
	defer t.Stop()
	var arrived chan struct{}
	if after >= 0 {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		arrived = make(chan struct{})
		go func() {
			if w.m.o.Events.Wait(wctx, after) == nil {
				close(arrived)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-t.C():
	case <-w.wake:
	case <-arrived:
	}
}
