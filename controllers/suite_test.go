package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/test/testenv"
)

// The controller tests run the real reconcilers in a real manager against a
// real kube-apiserver and etcd. envtest runs no kube-controller-manager, so
// no Deployment controller and no garbage collector: tests set Deployment
// status themselves and assert owner references instead of deletions.

var (
	env *testenv.Env
	k8s client.Client
	// clk is the reconcilers' clock; tests move it instead of sleeping.
	clk = clocktesting.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	// issued remembers every token generated, to prove none leaks.
	issuedMu sync.Mutex
	issued   []string
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(testLogger())
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s = env.Client
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// startManager runs the reconcilers, watching namespace ns only (tests share
// one API server and must not wait on each other's objects), until the
// returned stop is called. configure may change the Options.
func startManager(t testing.TB, ns string, configure ...func(*Options)) (stop func()) {
	t.Helper()
	_, stop = startManagerOf(t, ns, configure...)
	return stop
}

// startManagerOf is startManager that also returns the manager, so a test
// can look at what its cache holds.
func startManagerOf(t testing.TB, ns string, configure ...func(*Options)) (ctrl.Manager, func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                  env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Cache:                   namespaceCacheOptions(ns),
		Controller:              config.Controller{SkipNameValidation: ptr.To(true)},
		GracefulShutdownTimeout: ptr.To(10 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		DefaultImage: "scim-operator:test",
		Clock:        clk,
		Controller:   controller.Options{MaxConcurrentReconciles: 4},
		NewToken:     recordingTokenGenerator,
	}
	for _, c := range configure {
		c(&opts)
	}
	if err = Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return mgr, func() {
		cancel()
		if err := <-done; err != nil {
			// Say which goroutine did not stop: the dump names the runnable.
			f, _ := os.CreateTemp("", "manager-shutdown-*.txt")
			_ = pprof.Lookup("goroutine").WriteTo(f, 2)
			_ = f.Close()
			t.Errorf("manager: %v (goroutines in %s)", err, f.Name())
		}
	}
}

// namespaceCacheOptions are the operator's cache options (CacheOptions)
// limited to namespace ns: a test's manager must not reconcile earlier
// tests' objects, which would then move under the shared fake clock.
func namespaceCacheOptions(ns string) cache.Options {
	opts := CacheOptions()
	opts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	return opts
}

func recordingTokenGenerator() (string, error) {
	tok, err := auth.NewToken()
	if err == nil {
		issuedMu.Lock()
		issued = append(issued, tok)
		issuedMu.Unlock()
	}
	return tok, err
}

// issuedTokens is every token generated so far.
func issuedTokens() []string {
	issuedMu.Lock()
	defer issuedMu.Unlock()
	return append([]string(nil), issued...)
}

// namespace creates a fresh namespace for one test.
func namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually retries check until it passes or the timeout expires: the
// reconcilers run asynchronously. It waits on the controllers, never on the clock.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t testing.TB, obj client.Object, ns, name string) error {
	t.Helper()
	return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// tokenFileOf reads a tenant's accepted-token file.
// tokenFileOf is the tenant's token file without the operator's own status
// token (every tenant has it): the entries of its ScimTokens.
func tokenFileOf(t testing.TB, ns, tenant string) (*auth.TokenFile, error) {
	t.Helper()
	f, err := rawTokenFileOf(t, ns, tenant)
	if err != nil {
		return nil, err
	}
	f.Tokens = slices.DeleteFunc(f.Tokens, func(e auth.TokenEntry) bool { return e.Name == operatorTokenName })
	return f, nil
}

func rawTokenFileOf(t testing.TB, ns, tenant string) (*auth.TokenFile, error) {
	t.Helper()
	s := &corev1.Secret{}
	if err := get(t, s, ns, tenant+"-scim-tokens"); err != nil {
		return nil, err
	}
	return auth.ParseTokenFile(s.Data[auth.TokenFileName])
}

func newTenant(ns, name string) *scimv1alpha1.ScimTenant {
	return &scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func newToken(ns, name, tenant string) *scimv1alpha1.ScimToken {
	return &scimv1alpha1.ScimToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       scimv1alpha1.ScimTokenSpec{TenantRef: scimv1alpha1.TenantReference{Name: tenant}},
	}
}

func mustCreate(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestManagerIgnoresOtherNamespaces: a test's manager neither caches nor
// reconciles another namespace's objects, even ones that exist before it
// starts (an earlier test's), so tests cannot act on each other.
func TestManagerIgnoresOtherNamespaces(t *testing.T) {
	ctx := context.Background()
	mine, other := namespace(t), namespace(t)
	mustCreate(t, newTenant(other, "acme"))
	mustCreate(t, newToken(other, "entra", "acme"))
	mgr, stop := startManagerOf(t, mine)
	defer stop()
	mustCreate(t, newTenant(mine, "acme"))
	mustCreate(t, newToken(mine, "entra", "acme"))
	tokenStatus(t, mine, "entra", 1)
	acceptedHashes(t, mine, "acme", auth.Hash(secretToken(t, mine, "entra")))

	// The cache holds this namespace's objects and no other's.
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache not synced")
	}
	var tenants scimv1alpha1.ScimTenantList
	var tokens scimv1alpha1.ScimTokenList
	var secrets corev1.SecretList
	for _, l := range []client.ObjectList{&tenants, &tokens, &secrets} {
		if err := mgr.GetCache().List(ctx, l); err != nil {
			t.Fatalf("cache list %T: %v", l, err)
		}
	}
	var objs []client.Object
	for i := range tenants.Items {
		objs = append(objs, &tenants.Items[i])
	}
	for i := range tokens.Items {
		objs = append(objs, &tokens.Items[i])
	}
	for i := range secrets.Items {
		objs = append(objs, &secrets.Items[i])
	}
	if len(tenants.Items) != 1 || len(tokens.Items) != 1 || len(secrets.Items) == 0 {
		t.Fatalf("cache holds %d tenants, %d tokens, %d Secrets; want this namespace's 1, 1 and some",
			len(tenants.Items), len(tokens.Items), len(secrets.Items))
	}
	for _, o := range objs {
		if o.GetNamespace() != mine {
			t.Errorf("the cache of a manager for %s holds %T %s/%s", mine, o, o.GetNamespace(), o.GetName())
		}
	}

	// Nothing acted on the other namespace: no status, no token, no Secret.
	tn := &scimv1alpha1.ScimTenant{}
	if err := get(t, tn, other, "acme"); err != nil {
		t.Fatal(err)
	}
	tok := &scimv1alpha1.ScimToken{}
	if err := get(t, tok, other, "entra"); err != nil {
		t.Fatal(err)
	}
	if len(tn.Status.Conditions) != 0 || tok.Status.Revision != 0 || len(tok.Status.Conditions) != 0 {
		t.Errorf("the other namespace's objects were reconciled: tenant %s, token %s", toJSON(tn.Status), toJSON(tok.Status))
	}
	var otherSecrets corev1.SecretList
	if err := k8s.List(ctx, &otherSecrets, client.InNamespace(other), client.MatchingLabels{LabelManagedBy: ManagedByValue}); err != nil {
		t.Fatal(err)
	}
	if len(otherSecrets.Items) != 0 {
		t.Errorf("%d operator Secrets written in the other namespace", len(otherSecrets.Items))
	}
}
