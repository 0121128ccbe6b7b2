package controllers

import (
	"crypto/tls"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// MetricsServerOptions serves the manager's metrics at addr ("0" disables
// them). Secure (the default) is HTTPS, with the certificate from certDir
// (tls.crt, tls.key) or a self-signed one when certDir is empty, and every
// scrape authenticated by a TokenReview of its bearer token and authorized by
// a SubjectAccessReview for get on /metrics, so only ServiceAccounts bound to
// the metrics-reader ClusterRole can read it. Not secure is plain HTTP
// without either, for a manager outside a cluster or behind a proxy that
// authenticates; bind it to localhost then.
func MetricsServerOptions(addr string, secure bool, certDir string) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		opts.CertDir = certDir
		// HTTP/2 off: CVE-2023-44487 and CVE-2023-39325 (rapid reset) on a
		// port any pod may reach.
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return opts
}
