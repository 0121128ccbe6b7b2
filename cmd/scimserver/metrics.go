package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A separate metrics listener (--metrics-listen-address) gives /metrics a
// port of its own, so a NetworkPolicy can admit Prometheus to that port only
// and keep it off the SCIM port, and the SCIM port stops answering /metrics.

// withoutMetrics answers 404 for /metrics on the SCIM port.
func withoutMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			http.Error(w, "metrics are served on the metrics port (--metrics-listen-address)", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveMetrics serves reg at /metrics on addr until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	log.Info("Serving metrics", "address", ln.Addr().String())
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("Metrics listener stopped", "err", err)
		}
	}()
	return hs.Shutdown, nil
}
