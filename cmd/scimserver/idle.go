package main

import (
	"context"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// idleTrimInterval is how often idleTrimmer looks for an idle server. The
// heap is returned to the OS 1–2 intervals after the last SCIM request.
const idleTrimInterval = 30 * time.Second

// idleTrimmer returns the free heap to the OS once the server is idle. Go
// keeps a heap of at least its 4 MB minimum goal, and the scavenger
// returns the rest slowly. A tenant with a 0.5 MB live heap therefore
// held about 3 MB it did not use between Entra's sync cycles, which are
// 40 minutes apart (docs/benchmarks.md, issue #13). It costs one forced
// GC per idle period.
type idleTrimmer struct {
	requests atomic.Int64
	last     int64 // requests seen at the previous tick
	trimmed  bool  // freed since the last request
}

// wrap counts the requests h serves, except probes and metrics: the
// kubelet and Prometheus call those all the time, idle or not.
func (t *idleTrimmer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
		default:
			t.requests.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// tick calls free when no request came since the previous tick and
// nothing was freed since the last request; it reports whether it did.
func (t *idleTrimmer) tick(free func()) bool {
	n := t.requests.Load()
	if n != t.last {
		t.last, t.trimmed = n, false
		return false
	}
	if t.trimmed {
		return false
	}
	free()
	t.trimmed = true
	return true
}

// run ticks on every value of ticks until ctx ends.
func (t *idleTrimmer) run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			t.tick(debug.FreeOSMemory)
		}
	}
}
