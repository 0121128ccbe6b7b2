package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// The change log (package eventlog): every write transaction appends its
// events to the events table before it commits, so the log and the data
// never disagree, whatever instant the process dies at. The store keeps
// the raw document it already encoded for the write; rendering to SCIM
// happens when the log is read (package server), which keeps the write path
// cheap.
//
// events.go has the interface and types, eventwrite.go the appending inside
// write transactions, eventdiff.go what an update changed, eventread.go
// reading, waiting and pruning.

// EventLog reads and prunes the change log. Cursors (seq) are strictly
// increasing with no gaps between committed events.
type EventLog interface {
	// ReadEvents returns up to limit events with Seq > after, in order,
	// and the cursor to continue from: the last event's Seq, or when there
	// is none, after (which is then the newest Seq, or 0 on a log never
	// written). A cursor whose successor was pruned, or that is ahead of
	// the newest event (a database restored from an older backup), is
	// eventlog.ErrExpired.
	ReadEvents(ctx context.Context, after int64, limit int) (evs []Event, next int64, err error)
	// EventHead returns the newest Seq ever written, 0 when none.
	EventHead(ctx context.Context) (int64, error)
	// WaitEvents blocks until an event with Seq > after is committed or
	// ctx ends. Commits wake it; it never polls.
	WaitEvents(ctx context.Context, after int64) error
	// PruneEvents deletes the events older than before (a prefix of the
	// log; never the newest event) in small transactions and returns how
	// many it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}

// Event is one stored event. Resource is the document as the event left it
// (for deletes: as it was), with the meta needed to render it; groups carry
// no members.
type Event struct {
	Seq      int64
	ID       string
	Type     string
	Time     time.Time
	Resource *Resource
	Changes  []eventlog.Change
	Member   *eventlog.Member
}

// secretAttrs are top-level document attributes never copied into the log:
// the password (SCIM returned "never") must not outlive its change in a
// 30-day log. A change of one is recorded as its path alone.
var secretAttrs = []string{"password"}

// ErrNoEventLog is returned by the EventLog methods of a store opened
// WithoutEventLog.
var ErrNoEventLog = errors.New("store: the change log is switched off")

// pruneBatch bounds one pruning transaction, so writers queued on the
// single write connection wait at most one small delete.
const pruneBatch = 500

// WithoutEventLog switches the change log off: writes append no events and
// the EventLog methods fail with ErrNoEventLog. For measuring the log's
// cost (bench_test.go) and opening databases from before the log (schema
// 1 and 2); a server always logs.
func WithoutEventLog() Option { return func(o *options) { o.noEvents = true } }

// broadcast wakes every WaitEvents after a commit that appended events. The
// channel is made lazily, so commits with no waiter allocate nothing.
type broadcast struct {
	mu      sync.Mutex
	ch      chan struct{}
	waiting atomic.Int64 // WaitEvents calls blocked right now
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// eventData is the JSON of the data column, as read (snapshot writes it).
type eventData struct {
	Doc      map[string]any    `json:"doc"`
	Created  int64             `json:"created"`  // Unix nanoseconds
	Modified int64             `json:"modified"` // Unix nanoseconds
	Version  int64             `json:"version"`
	Changes  []eventlog.Change `json:"changes,omitempty"`
	Member   *eventlog.Member  `json:"member,omitempty"`
}
