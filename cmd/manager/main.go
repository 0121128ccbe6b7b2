// Command manager runs the scim-operator controllers: ScimTenant into a
// running SCIM server, ScimToken into a rotating bearer token.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"strings"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/scim-operator/scim-operator/controllers"
)

func main() {
	var (
		metricsAddr, probeAddr, namespaces, serverImage string
		leaderElect, secureMetrics                      bool
		concurrency                                     int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect one active manager among replicas.")
	flag.StringVar(&namespaces, "namespaces", os.Getenv("WATCH_NAMESPACES"), "Comma-separated namespaces to watch (env WATCH_NAMESPACES); empty watches all.")
	flag.StringVar(&serverImage, "scim-server-image", envOr("SCIM_SERVER_IMAGE", "ghcr.io/scim-operator/scim-operator:latest"), "Image tenants run unless spec.image says otherwise (env SCIM_SERVER_IMAGE).")
	flag.IntVar(&concurrency, "concurrency", 4, "Reconciles run in parallel per controller.")
	webhookPrivate := flag.Bool("webhook-allow-private-networks", false, "Let ScimWebhooks deliver to loopback, private, link-local and cloud metadata addresses (local runs and tests only).")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: controllers.NewScheme(),
		Metrics: metricsserver.Options{
			BindAddress: metricsAddr, SecureServing: secureMetrics,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "scim-operator.scim.operator.dev",
		Cache:                  cacheOptions(namespaces),
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	if err := controllers.Setup(mgr, controllers.Options{
		DefaultImage: serverImage,
		Clock:        clock.RealClock{},
		Controller:   controller.Options{MaxConcurrentReconciles: concurrency},
		Webhooks:     controllers.WebhookOptions{AllowPrivateNetworks: *webhookPrivate},
	}); err != nil {
		log.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}
	_ = mgr.AddHealthzCheck("healthz", healthz.Ping)
	_ = mgr.AddReadyzCheck("readyz", healthz.Ping)
	log.Info("Starting manager", "scimServerImage", serverImage, "namespaces", namespaces)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// cacheOptions restricts the cache to the watched namespaces and to the
// Secrets the operator manages, so it never holds other Secrets in memory.
func cacheOptions(namespaces string) cache.Options {
	opts := controllers.CacheOptions()
	if namespaces != "" {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(namespaces, ",") {
			opts.DefaultNamespaces[strings.TrimSpace(ns)] = cache.Config{}
		}
	}
	return opts
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
