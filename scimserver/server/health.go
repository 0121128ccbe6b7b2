package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers while the process can serve HTTP at all.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 once the store answers and a token file is loaded:
// before that every SCIM request would fail, so the pod should get no
// traffic.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.metrics.storeErrors.WithLabelValues("ping").Inc()
		s.log.Error("Readiness: store unavailable", "err", err)
		s.metrics.ready.Set(0)
		writeSCIMError(w, http.StatusServiceUnavailable, "", "store unavailable")
		return
	}
	if !s.keyring.Loaded() {
		s.metrics.ready.Set(0)
		writeSCIMError(w, http.StatusServiceUnavailable, "", "no valid token file loaded")
		return
	}
	s.metrics.ready.Set(1)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.promReg, promhttp.HandlerOpts{ErrorLog: nil}).ServeHTTP(w, r)
}
