package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"
)

// kindStats collects the latencies of one request kind.
type kindStats struct {
	lat         []time.Duration
	errors      int
	first, last time.Time // span over which the kind ran, for its rate
}

// recorder collects latencies per request kind. One mutex is enough: at
// ~10,000 requests/s the lock is held for nanoseconds per request.
type recorder struct {
	mu     sync.Mutex
	kinds  map[string]*kindStats
	order  []string
	errMsg []string // the first few error messages, to print
}

func newRecorder() *recorder { return &recorder{kinds: map[string]*kindStats{}} }

func (r *recorder) kind(k string) *kindStats {
	ks := r.kinds[k]
	if ks == nil {
		ks = &kindStats{}
		r.kinds[k] = ks
		r.order = append(r.order, k)
	}
	return ks
}

// add records one request of kind k that started at start; err non-nil
// counts it as an error (its latency still counts).
func (r *recorder) add(k string, start time.Time, err error) {
	end := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := r.kind(k)
	ks.lat = append(ks.lat, end.Sub(start))
	if ks.first.IsZero() || start.Before(ks.first) {
		ks.first = start
	}
	if end.After(ks.last) {
		ks.last = end
	}
	if err != nil {
		ks.errors++
		if len(r.errMsg) < 10 {
			r.errMsg = append(r.errMsg, k+": "+err.Error())
		}
	}
}

func (r *recorder) totalErrors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ks := range r.kinds {
		n += ks.errors
	}
	return n
}

// total is the number of requests recorded.
func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ks := range r.kinds {
		n += len(ks.lat)
	}
	return n
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// print writes the per-kind table: count, errors, rate over the kind's own
// span, and latency percentiles in milliseconds.
func (r *recorder) print(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "%-40s %8s %6s %9s %8s %8s %8s %8s\n", "kind", "count", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	var total, errs int
	var first, last time.Time
	for _, k := range r.order {
		ks := r.kinds[k]
		lat := slices.Clone(ks.lat)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		span := ks.last.Sub(ks.first).Seconds()
		rate := 0.0
		if span > 0 {
			rate = float64(len(lat)) / span
		}
		fmt.Fprintf(w, "%-40s %8d %6d %9.0f %8s %8s %8s %8s\n", k, len(lat), ks.errors, rate,
			ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[len(lat)-1]))
		total += len(lat)
		errs += ks.errors
		if first.IsZero() || ks.first.Before(first) {
			first = ks.first
		}
		if ks.last.After(last) {
			last = ks.last
		}
	}
	rate := 0.0
	if s := last.Sub(first).Seconds(); s > 0 {
		rate = float64(total) / s
	}
	fmt.Fprintf(w, "%-40s %8d %6d %9.0f\n", "TOTAL", total, errs, rate)
	for _, m := range r.errMsg {
		fmt.Fprintln(w, "  error:", m)
	}
}
