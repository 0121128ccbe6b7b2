package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDeliveryThroughput measures events per second from the SQLite
// change log (rendered by the server, as in production) to a local
// receiver that acknowledges at once: each iteration is a fresh webhook
// delivering the whole log of benchEvents user.created events.
func BenchmarkDeliveryThroughput(b *testing.B) {
	const benchEvents = 5000
	st, srv := newTestServer(b, time.Now, &auth.TokenFile{})
	ctx := context.Background()
	for i := range benchEvents {
		r := &store.Resource{Kind: store.User, ID: fmt.Sprintf("u%06d", i), Doc: map[string]any{
			"userName": fmt.Sprintf("user%06d@example.com", i), "active": true,
			"displayName": fmt.Sprintf("User %d", i), "emails": []any{map[string]any{"value": fmt.Sprintf("user%06d@example.com", i), "primary": true}},
		}}
		if err := st.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	var got atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	var hooks atomic.Int64 // every iteration delivers to a new webhook (cursor 0)
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("maxBatch=%d", batch), func(b *testing.B) {
			m, err := New(Options{Events: srv.Events(), State: st, Owner: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			mctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { m.Run(mctx); close(done) }()
			defer func() { cancel(); <-done }()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for range b.N {
				name := fmt.Sprintf("bench-%d-%d", batch, hooks.Add(1))
				m.Update(&webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{
					hook(name, rcv.URL, func(w *webhookconfig.Webhook) { w.MaxBatch = batch }),
				}})
				for {
					rep, err := m.Status(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if len(rep.Webhooks) == 1 && rep.Webhooks[0].Name == name && rep.Webhooks[0].Acked == benchEvents {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
			b.ReportMetric(float64(b.N*benchEvents)/time.Since(start).Seconds(), "events/s")
			// CPU of sender and receiver together (both in this process);
			// steadier than events/s on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(b.N*benchEvents), "cpu-µs/event")
		})
	}
}
