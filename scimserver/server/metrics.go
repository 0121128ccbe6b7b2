package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors. Each Server has its own
// registry so tests (and a process serving several tenants) never collide.
type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	rateLimited prometheus.Counter
	audit       *prometheus.CounterVec
	// ready is the result of the last readiness check (/readyz, which the
	// kubelet calls every few seconds): an alert sees a pod that runs but
	// gets no traffic, which `up` does not show.
	ready prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_http_requests_total",
			Help: "SCIM HTTP requests by resource, method and status code.",
		}, []string{"resource", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scim_http_request_duration_seconds",
			Help:    "SCIM HTTP request latency by resource and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"resource", "method"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_store_errors_total",
			Help: "Store operations that failed with a server fault, by operation.",
		}, []string{"op"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scim_rate_limited_total",
			Help: "Requests answered 429 by the tenant rate limit.",
		}),
		audit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_changes_total",
			Help: "Successful changes by resource type and action.",
		}, []string{"resource", "action"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scim_server_ready",
			Help: "1 when the last readiness check (/readyz) passed, 0 when it failed (store unavailable or no token file); 0 before the first check.",
		}),
	}
	// Pre-create the series so dashboards and alerts see zeros, not gaps.
	// The Users and Groups lookups Entra starts each cycle with, so that the
	// ScimTenantNotSyncing alert (increase == 0) also sees a pod that has
	// received nothing since it started.
	for _, resource := range []string{"Users", "Groups"} {
		m.requests.WithLabelValues(resource, "GET", "200")
	}
	for _, op := range []string{"create", "get", "update", "delete", "list", "groupsOf", "ping"} {
		m.storeErrors.WithLabelValues(op)
	}
	reg.MustRegister(m.requests, m.latency, m.storeErrors, m.rateLimited, m.audit, m.ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
