package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// startManagerWith runs the reconcilers with opts (image policy, path
// policy) watching exactly the given namespaces, as an operator installed
// with --watch-namespaces does, until the returned stop is called.
func startManagerWith(t testing.TB, namespaces []string, opts Options) (stop func()) {
	t.Helper()
	return startManagerAs(t, env.Config, namespaces, opts)
}

// startManagerAs is startManagerWith with the credentials of cfg, to run the
// manager with exactly the permissions its install grants; tweaks adjust the
// manager's options (leader election).
func startManagerAs(t testing.TB, cfg *rest.Config, namespaces []string, opts Options, tweaks ...func(*ctrl.Options)) (stop func()) {
	t.Helper()
	cacheOpts := CacheOptions()
	cacheOpts.DefaultNamespaces = map[string]cache.Config{}
	for _, ns := range namespaces {
		cacheOpts.DefaultNamespaces[ns] = cache.Config{}
	}
	mgrOpts := ctrl.Options{
		Scheme:                  env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Cache:                   cacheOpts,
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
		GracefulShutdownTimeout: ptr.To(10 * time.Second),
	}
	for _, tweak := range tweaks {
		tweak(&mgrOpts)
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.DefaultImage == "" {
		opts.DefaultImage = "scim-operator:test"
	}
	opts.Clock = clk
	opts.Controller = controller.Options{MaxConcurrentReconciles: 4}
	opts.NewToken = recordingTokenGenerator
	if err := Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}
}

// namespaceNamed creates a fresh namespace whose name starts with prefix.
func namespaceNamed(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	mustCreate(t, ns)
	return ns.Name
}

// afterCreationSecond waits until the API server stamps a later
// creationTimestamp than obj's. creationTimestamp has one-second resolution
// and the API server's clock cannot be injected: without this, two tenants
// created within one second are ordered by namespace and name instead, and
// a test of "the older one wins" would test the tie-break.
func afterCreationSecond(t testing.TB, obj client.Object) {
	t.Helper()
	created := obj.GetCreationTimestamp().Time
	if created.IsZero() {
		t.Fatalf("%s has no creationTimestamp", obj.GetName())
	}
	eventually(t, 5*time.Second, func() error {
		if now := time.Now().Truncate(time.Second); !now.After(created) {
			return fmt.Errorf("still in the second %s was created", obj.GetName())
		}
		return nil
	})
}

// tenantCondition waits until the tenant's condition typ has status and reason, and returns it.
func tenantCondition(t testing.TB, ns, name, typ, status, reason string) *metav1.Condition {
	t.Helper()
	var got scimv1alpha1.ScimTenant
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &got, ns, name); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
		}
		return wantCondition(got.Status.Conditions, typ, status, reason)
	})
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == typ {
			return &got.Status.Conditions[i]
		}
	}
	return nil
}

// ingressPath waits for the tenant's Ingress and returns its host and path.
func ingressPath(t testing.TB, ns, tenant string) string {
	t.Helper()
	ing := &networkingv1.Ingress{}
	eventually(t, 30*time.Second, func() error { return get(t, ing, ns, tenant+"-scim") })
	return ing.Spec.Rules[0].Host + ing.Spec.Rules[0].HTTP.Paths[0].Path
}

// noIngress waits until the tenant has no Ingress.
func noIngress(t testing.TB, ns, tenant string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &networkingv1.Ingress{}, ns, tenant+"-scim"); err == nil {
			return fmt.Errorf("Ingress %s/%s-scim exists", ns, tenant)
		}
		return nil
	})
}

// updateTenant re-reads the tenant, applies change and updates it, retrying on conflicts.
func updateTenant(t testing.TB, ns, name string, change func(*scimv1alpha1.ScimTenant)) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		var tenant scimv1alpha1.ScimTenant
		if err := get(t, &tenant, ns, name); err != nil {
			return err
		}
		change(&tenant)
		return k8s.Update(context.Background(), &tenant)
	})
}
