package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are per webhook: delivered events, failed attempts, and the lag
// (computed at scrape time from the log head and each cursor).
type metrics struct {
	m         *Manager
	events    *prometheus.CounterVec
	requests  *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lagDesc   *prometheus.Desc
	stateDesc *prometheus.Desc
}

func newMetrics(m *Manager) *metrics {
	return &metrics{
		m: m,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_webhook_delivered_events_total",
			Help: "Events a webhook receiver acknowledged (2xx).",
		}, []string{"webhook"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_webhook_delivered_requests_total",
			Help: "Webhook requests acknowledged with a 2xx (a batch is one request).",
		}, []string{"webhook"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_webhook_failed_attempts_total",
			Help: "Webhook delivery attempts that failed (non-2xx, timeout, refused address).",
		}, []string{"webhook"}),
		lagDesc: prometheus.NewDesc("scim_webhook_lag_events",
			"Events in the change log after the webhook's acknowledged cursor.", []string{"webhook"}, nil),
		stateDesc: prometheus.NewDesc("scim_webhook_state",
			"1 for the webhook's current delivery state.", []string{"webhook", "state"}, nil),
	}
}

func (x *metrics) delivered(name string, n int) {
	x.events.WithLabelValues(name).Add(float64(n))
	x.requests.WithLabelValues(name).Inc()
}

func (x *metrics) failed(name string) { x.failures.WithLabelValues(name).Inc() }

func (x *metrics) forget(name string) {
	x.events.DeleteLabelValues(name)
	x.requests.DeleteLabelValues(name)
	x.failures.DeleteLabelValues(name)
}

func (x *metrics) Describe(ch chan<- *prometheus.Desc) {
	x.events.Describe(ch)
	x.requests.Describe(ch)
	x.failures.Describe(ch)
	ch <- x.lagDesc
	ch <- x.stateDesc
}

func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	x.events.Collect(ch)
	x.requests.Collect(ch)
	x.failures.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rep, err := x.m.Status(ctx)
	if err != nil {
		return
	}
	for _, w := range rep.Webhooks {
		ch <- prometheus.MustNewConstMetric(x.lagDesc, prometheus.GaugeValue, float64(w.Lag), w.Name)
		ch <- prometheus.MustNewConstMetric(x.stateDesc, prometheus.GaugeValue, 1, w.Name, w.State)
	}
}
