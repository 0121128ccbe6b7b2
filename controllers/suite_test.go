package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
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
	cacheOpts := CacheOptions()
	cacheOpts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                  env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		Cache:                   CacheOptions(),
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
	return func() {
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
func tokenFileOf(t testing.TB, ns, tenant string) (*auth.TokenFile, error) {
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
