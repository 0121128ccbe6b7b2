package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

var (
	tokenExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_token_expiry_timestamp_seconds",
		Help: "When the current token of a ScimToken expires (expiresAfter), as a Unix time; absent without expiry.",
	}, []string{"namespace", "name"})
	tokenNextRotation = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_token_next_rotation_timestamp_seconds",
		Help: "When the interval rotates a ScimToken next, as a Unix time; absent without an interval.",
	}, []string{"namespace", "name"})
	tokenRotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_token_rotations_total",
		Help: "Tokens issued, by ScimToken and reason (FirstIssue, RotateRequested, IntervalElapsed, ...).",
	}, []string{"namespace", "name", "reason"})
)

func init() {
	metrics.Registry.MustRegister(tokenExpiry, tokenNextRotation, tokenRotations)
}

func recordTokenMetrics(tok *scimv1alpha1.ScimToken) {
	labels := prometheus.Labels{"namespace": tok.Namespace, "name": tok.Name}
	if at := tok.Status.ExpiresAt; at != nil {
		tokenExpiry.With(labels).Set(float64(at.Unix()))
	} else {
		tokenExpiry.Delete(labels)
	}
	if at := tok.Status.NextRotationAt; at != nil {
		tokenNextRotation.With(labels).Set(float64(at.Unix()))
	} else {
		tokenNextRotation.Delete(labels)
	}
}

func forgetTokenMetrics(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	tokenExpiry.Delete(labels)
	tokenNextRotation.Delete(labels)
	tokenRotations.DeletePartialMatch(labels)
}
