package deliverystatus

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// report is the documented JSON of GET /v1/webhooks.
const report = `{"head": 120, "webhooks": [
  {"name": "crm-sync", "state": "failing", "acked": 100, "lag": 20,
   "lastDeliveredAt": "2026-11-01T10:00:00Z", "lastAttemptAt": "2026-11-01T12:00:00Z", "failingSince": "2026-11-01T10:00:05Z",
   "lastError": {"status": 503, "message": "upstream unavailable", "at": "2026-11-01T12:00:00Z"}},
  {"name": "mirror", "state": "idle", "acked": 120, "lag": 0}]}`

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != Path:
			http.NotFound(w, r)
		case r.Header.Get("Authorization") != "Bearer good":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"detail":"insufficient scope"}`))
		case r.URL.Query().Has("x"):
		default:
			_, _ = w.Write([]byte(report))
		}
	}))
	defer srv.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"head":1,"webhooks":[` + strings.Repeat(" ", MaxReportBytes) + `]}`))
	}))
	defer huge.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`<html>`)) }))
	defer garbage.Close()

	rep, err := Fetch(context.Background(), srv.Client(), srv.URL+"/", "good")
	if err != nil {
		t.Fatal(err)
	}
	crm := rep.Find("crm-sync")
	if rep.Head != 120 || crm == nil || crm.State != "failing" || crm.Acked != 100 || crm.Lag != 20 ||
		crm.LastError == nil || crm.LastError.Status != 503 || crm.LastError.Message != "upstream unavailable" ||
		!crm.FailingSince.Equal(time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC)) {
		t.Fatalf("decoded %+v / %+v", rep, crm)
	}
	if m := rep.Find("mirror"); m == nil || m.State != "idle" || m.LastDeliveredAt != nil || m.LastError != nil {
		t.Fatalf("mirror: %+v", m)
	}
	if rep.Find("absent") != nil {
		t.Fatal("Find of an unknown webhook")
	}

	errCases := []struct {
		name, url, token, want string
	}{
		{"wrong token", srv.URL, "bad-token-value", "HTTP 403"},
		{"oversized", huge.URL, "good", "more than"},
		{"not json", garbage.URL, "good", "decoding"},
		{"refused", "http://127.0.0.1:1", "good", "connect"},
	}
	for _, tc := range errCases {
		_, err := Fetch(context.Background(), http.DefaultClient, tc.url, tc.token)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error %q contains the token", tc.name, err)
		}
	}
}

// The poller reaches every one of 200 tenants in one round without ever
// having more than Concurrency requests in flight.
func TestPollerRoundIsBounded(t *testing.T) {
	const tenants, concurrency = 200, 8
	var inFlight, maxInFlight atomic.Int64
	release := make(chan struct{})
	arrived := make(chan struct{}, tenants)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		_, _ = w.Write([]byte(`{"head":1,"webhooks":[{"name":"hook","state":"idle","acked":1,"lag":0}]}`))
	}))
	defer srv.Close()

	var targets []Target
	for i := range tenants {
		targets = append(targets, Target{Key: fmt.Sprintf("ns/t%d", i), URL: srv.URL, Token: "tok"})
	}
	var mu sync.Mutex
	applied := map[string]bool{}
	p := &Poller{
		Targets: func(context.Context) ([]Target, error) { return targets, nil },
		Apply: func(_ context.Context, tg Target, rep *Report, err error, _ time.Time) {
			if err != nil || rep.Head != 1 {
				t.Errorf("%s: %v %+v", tg.Key, err, rep)
			}
			mu.Lock()
			applied[tg.Key] = true
			mu.Unlock()
		},
		Concurrency: concurrency,
		HTTP:        srv.Client(),
	}
	done := make(chan struct{})
	go func() { p.Round(context.Background(), nil); close(done) }()
	// Hold the requests until the pool is saturated, then let them all through.
	for range concurrency {
		<-arrived
	}
	close(release)
	<-done
	if len(applied) != tenants {
		t.Fatalf("applied %d of %d tenants", len(applied), tenants)
	}
	if got := maxInFlight.Load(); got != concurrency {
		t.Fatalf("%d requests in flight at most, want exactly the bound %d", got, concurrency)
	}
}

// Start polls at once, on every tick of its clock, and on Trigger only the
// triggered target.
func TestPollerStartTickAndTrigger(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"head":0,"webhooks":[]}`))
	}))
	defer srv.Close()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	polls := make(chan string, 100)
	p := &Poller{
		Targets: func(context.Context) ([]Target, error) {
			return []Target{{Key: "a", URL: srv.URL}, {Key: "b", URL: srv.URL}}, nil
		},
		Apply:    func(_ context.Context, tg Target, _ *Report, _ error, _ time.Time) { polls <- tg.Key },
		Interval: time.Minute,
		Clock:    clk,
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- p.Start(ctx) }()
	round := func() []string {
		got := []string{<-polls}
		for len(got) < 2 {
			got = append(got, <-polls)
		}
		return got
	}
	if got := round(); len(got) != 2 {
		t.Fatalf("first round %v", got)
	}
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Minute)
	if got := round(); len(got) != 2 {
		t.Fatalf("tick round %v", got)
	}
	p.Trigger("b")
	if got := <-polls; got != "b" {
		t.Fatalf("trigger polled %q, want b", got)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-polls:
		t.Fatalf("unexpected poll of %s after the trigger", k)
	default:
	}
}

// BenchmarkPollerRound200 is one status round over 200 tenants (one local
// server answering the documented report), DefaultConcurrency in flight.
func BenchmarkPollerRound200(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(report))
	}))
	defer srv.Close()
	targets := make([]Target, 200)
	for i := range targets {
		targets[i] = Target{Key: fmt.Sprintf("ns/t%d", i), URL: srv.URL, Token: "tok"}
	}
	var failed atomic.Int64
	p := &Poller{
		Targets: func(context.Context) ([]Target, error) { return targets, nil },
		Apply: func(_ context.Context, _ Target, _ *Report, err error, _ time.Time) {
			if err != nil {
				failed.Add(1)
			}
		},
		HTTP: srv.Client(),
	}
	for b.Loop() {
		p.Round(context.Background(), nil)
	}
	if failed.Load() != 0 {
		b.Fatalf("%d polls failed", failed.Load())
	}
}
