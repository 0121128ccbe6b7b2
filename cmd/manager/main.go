// Command manager runs the scim-operator controllers: ScimTenant into a
// running SCIM server, ScimToken into a rotating bearer token.
package main

import (
	"flag"
	"os"
	"strings"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/scim-operator/scim-operator/controllers"
)

func main() {
	var (
		metricsAddr, metricsCertDir, probeAddr string
		namespaces, serverImage                string
		allowedImages, pathPolicy              string
		leaderElect, secureMetrics             bool
		concurrency                            int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, each scrape authenticated (TokenReview) and authorized (SubjectAccessReview: get on /metrics, the metrics-reader ClusterRole). false serves plain HTTP to anyone who reaches the address: bind it to 127.0.0.1 then.")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics endpoint; empty uses a self-signed certificate.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect one active manager among replicas.")
	flag.StringVar(&namespaces, "watch-namespaces", os.Getenv("WATCH_NAMESPACES"), "Comma-separated namespaces to watch (env WATCH_NAMESPACES); empty watches all. With a list, the operator needs Roles in those namespaces only (config/namespaced).")
	flag.StringVar(&serverImage, "scim-server-image", envOr("SCIM_SERVER_IMAGE", "ghcr.io/scim-operator/scim-operator:latest"), "Image tenants run unless spec.image says otherwise (env SCIM_SERVER_IMAGE).")
	flag.StringVar(&allowedImages, "allowed-image-repositories", os.Getenv("ALLOWED_IMAGE_REPOSITORIES"), "Comma-separated image repositories (ghcr.io/acme/scim) or prefixes ending in / (ghcr.io/acme/) that spec.image may name (env ALLOWED_IMAGE_REPOSITORIES); empty allows the repository of --scim-server-image only.")
	flag.StringVar(&pathPolicy, "ingress-path-policy", string(controllers.IngressPathAny), "Which paths tenants may claim on a shared host: Any (any path no older tenant holds) or NamespacePrefix (also only /<namespace> and below).")
	flag.IntVar(&concurrency, "concurrency", 4, "Reconciles run in parallel per controller.")
	webhookPrivate := flag.Bool("webhook-allow-private-networks", false, "Let ScimWebhooks deliver to loopback, private, link-local and cloud metadata addresses (local runs and tests only).")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	policy, err := controllers.ParseIngressPathPolicy(pathPolicy)
	if err != nil {
		log.Error(err, "Invalid --ingress-path-policy")
		os.Exit(2)
	}
	if !secureMetrics && metricsAddr != "0" {
		log.Info("Metrics are served without TLS, authentication or authorization", "address", metricsAddr)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 controllers.NewScheme(),
		Metrics:                controllers.MetricsServerOptions(metricsAddr, secureMetrics, metricsCertDir),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "scim-operator.scim.operator.dev",
		// Hand the Lease over on shutdown instead of letting it expire: safe
		// because main exits as soon as the manager stops.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(namespaces),
	})
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	if err := controllers.Setup(mgr, controllers.Options{
		DefaultImage:             serverImage,
		AllowedImageRepositories: splitList(allowedImages),
		IngressPathPolicy:        policy,
		// The Deployment sets POD_NAMESPACE from the downward API.
		OperatorNamespace: os.Getenv("POD_NAMESPACE"),
		Clock:             clock.RealClock{},
		Controller:        controller.Options{MaxConcurrentReconciles: concurrency},
		Webhooks:          controllers.WebhookOptions{AllowPrivateNetworks: *webhookPrivate},
	}); err != nil {
		log.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}
	_ = mgr.AddHealthzCheck("healthz", healthz.Ping)
	_ = mgr.AddReadyzCheck("readyz", healthz.Ping)
	log.Info("Starting manager", "scimServerImage", serverImage, "watchNamespaces", namespaces, "ingressPathPolicy", policy, "allowedImageRepositories", allowedImages)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

// cacheOptions restricts the cache to the watched namespaces and to the
// Secrets the operator manages, so it never holds other Secrets in memory.
func cacheOptions(namespaces string) cache.Options {
	opts := controllers.CacheOptions()
	if list := splitList(namespaces); len(list) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range list {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
