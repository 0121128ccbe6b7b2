// Package delivery pushes a tenant's change events to its webhooks: one
// goroutine per webhook reads the change log (eventlog.Reader) after the
// webhook's acknowledged cursor and POSTs the events, signed per the
// Standard Webhooks specification, in order: event n+1 is not sent before
// event n got a 2xx. Failures are retried with exponential backoff and
// jitter (see BackoffBase) until the webhook's maxRetryDuration; then the
// webhook is failing and waits, dropping nothing, until it is resumed.
//
// The cursor and a lease live in the tenant's store (State), so with
// several server replicas exactly one delivers a given webhook, and a
// restarted server continues where the receiver last acknowledged
// (at-least-once: the last batch may arrive twice; receivers deduplicate
// on webhook-id).
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// State persists each webhook's acknowledged cursor and delivery lease.
// The SQLite store implements it (store/deliveries.go); every method is
// atomic, so replicas sharing a database cannot both hold a lease.
type State interface {
	// AcquireLease takes the lease for owner until until when it is free,
	// ran out before now, or is owner's already; it returns the cursor
	// and whether owner holds the lease.
	AcquireLease(ctx context.Context, webhook, owner string, now, until time.Time) (acked int64, held bool, err error)
	// Ack moves the cursor forward to seq if owner holds the lease.
	Ack(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error)
	// SetCursor moves the cursor to seq (resync) if owner holds the lease.
	SetCursor(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error)
	// ReleaseLease gives the lease up.
	ReleaseLease(ctx context.Context, webhook, owner string) error
	// DeliveryCursor reads the cursor without a lease.
	DeliveryCursor(ctx context.Context, webhook string) (int64, bool, error)
	// SetDeliveryStatus stores the holder's status document (JSON) if
	// owner holds the lease, so that standby replicas report it.
	SetDeliveryStatus(ctx context.Context, webhook, owner string, status []byte, now time.Time) (bool, error)
	// DeliveryStatus reads the cursor and the stored status document (nil
	// when none) without a lease; ok is false when the webhook has no row.
	DeliveryStatus(ctx context.Context, webhook string) (acked int64, status []byte, ok bool, err error)
}

// Defaults of Options.
const (
	DefaultLeaseDuration = 30 * time.Second
	DefaultReadLimit     = 500
	// DefaultAckInterval bounds how often the cursor is written while
	// events flow; it is always written when the webhook goes idle or
	// stops. A crash redelivers at most this much (at-least-once).
	DefaultAckInterval = 250 * time.Millisecond
)

// Options configures a Manager.
type Options struct {
	// Events is the tenant's change log. Required.
	Events eventlog.Reader
	// State persists cursors and leases. Required.
	State State
	// Owner names this replica in leases: stable across restarts of the
	// same pod (so a restarted server takes its own lease back at once);
	// the host name when empty.
	Owner string
	// Clock is the time source of timestamps, backoff and leases.
	Clock clock.Clock
	// Jitter returns a number in [0, 1) for retry jitter; math/rand when nil.
	Jitter func() float64
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// Registry receives the delivery metrics; none when nil.
	Registry prometheus.Registerer
	// LeaseDuration is how long a lease lasts without renewal; it is
	// renewed every third of it.
	LeaseDuration time.Duration
	// ReadLimit is the number of events read from the log at a time.
	ReadLimit int
	// AckInterval: see DefaultAckInterval.
	AckInterval time.Duration
}

// Manager runs one delivery loop per configured webhook. Build it with New,
// start it with Run, change the webhooks with Update (safe concurrently).
type Manager struct {
	o       Options
	log     *slog.Logger
	metrics *metrics
	clients [2]*http.Client // [0] refuses private addresses, [1] allows them

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run
	workers map[string]*worker
	pending *webhookconfig.File // an Update before Run
	wg      sync.WaitGroup
}

// New builds a Manager.
func New(o Options) (*Manager, error) {
	if o.Events == nil || o.State == nil {
		return nil, errors.New("delivery: Events and State are required")
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		if host == "" {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			host = hex.EncodeToString(b)
		}
		o.Owner = host
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Jitter == nil {
		o.Jitter = mathrand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultReadLimit
	}
	if o.AckInterval <= 0 {
		o.AckInterval = DefaultAckInterval
	}
	m := &Manager{
		o:       o,
		log:     o.Logger,
		workers: map[string]*worker{},
		clients: [2]*http.Client{newClient(false), newClient(true)},
	}
	m.metrics = newMetrics(m)
	if o.Registry != nil {
		if err := o.Registry.Register(m.metrics); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Run delivers until ctx ends, then stops every loop (an in-flight request
// is cancelled; its events are sent again by whoever delivers next),
// writes the cursors and releases the leases.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	if m.pending != nil {
		m.apply(m.pending)
		m.pending = nil
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	for name, w := range m.workers {
		w.stop()
		delete(m.workers, name)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Update replaces the configured webhooks (a parsed file, defaults
// applied; nil means none): new ones start, removed ones
// stop (keeping their cursor in the store, should they come back), changed
// ones continue from their cursor with the new settings. A webhook whose
// settings are invalid (no usable secret) is stopped and logged.
func (m *Manager) Update(c *webhookconfig.File) {
	if c == nil {
		c = &webhookconfig.File{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		m.pending = c
		return
	}
	m.apply(c)
}

func (m *Manager) apply(c *webhookconfig.File) {
	keep := map[string]bool{}
	for _, wh := range c.Webhooks {
		cw, err := compile(wh, c.AllowPrivateNetworks)
		if err != nil {
			m.log.Error("Webhook not delivered: invalid settings", "webhook", wh.Name, "err", err)
			continue
		}
		keep[wh.Name] = true
		if w, ok := m.workers[wh.Name]; ok {
			w.configure(cw)
			continue
		}
		w := newWorker(m, cw)
		m.workers[wh.Name] = w
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			w.run()
		}()
	}
	for name, w := range m.workers {
		if !keep[name] {
			w.stop()
			delete(m.workers, name)
			m.metrics.forget(name)
		}
	}
}

func (m *Manager) client(c *compiled) *http.Client {
	if c.allowPrivate {
		return m.clients[1]
	}
	return m.clients[0]
}

// snapshot lists the running workers.
func (m *Manager) snapshot() []*worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	ws := make([]*worker, 0, len(m.workers))
	for _, w := range m.workers {
		ws = append(ws, w)
	}
	return ws
}
