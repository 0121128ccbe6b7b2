package scimctl

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/localruntime"
	"github.com/scim-operator/scim-operator/test/testenv"
)

// The plugin's tests run what make demo runs: a real kube-apiserver and etcd,
// the operator's reconcilers, and the local runtime, which runs each tenant's
// real SCIM server binary and an ingress on a local port. The plugin reaches
// them through a kubeconfig file, as kubectl would.

var (
	k8s        client.Client
	rt         *localruntime.Runtime
	kubeconfig string

	// The control plane starts with the first test that needs it, so
	// unit tests and fuzzing (whose workers each run TestMain) do not pay
	// for it.
	clusterOnce sync.Once
	clusterErr  error
	stopCluster = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopCluster()
	os.Exit(code)
}

// cluster starts the control plane, the operator and the local runtime
// once, or fails the test if they cannot start.
func cluster(t testing.TB) {
	t.Helper()
	clusterOnce.Do(func() { clusterErr = startCluster() })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
}

func startCluster() error {
	state, err := os.MkdirTemp("", "kubectl-scim-test-")
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(state, "test.log"))
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile), zap.UseDevMode(true)))

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	k8s = env.Client
	admin, err := env.Env.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var raw []byte
		if raw, err = admin.KubeConfig(); err == nil {
			kubeconfig = filepath.Join(state, "kubeconfig")
			err = os.WriteFile(kubeconfig, raw, 0o600)
		}
	}
	if err != nil {
		_ = env.Stop()
		return fmt.Errorf("kubeconfig: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 controllers.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
	})
	if err == nil {
		err = controllers.Setup(mgr, controllers.Options{DefaultImage: "scim-operator:plugin-test", Clock: clock.RealClock{}})
	}
	if err != nil {
		cancel()
		_ = env.Stop()
		return err
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()

	root, err := testenv.RepoRoot()
	if err == nil {
		rt, err = localruntime.New(localruntime.Options{Config: env.Config, StateDir: state, ModuleRoot: root, StopTimeout: 3 * time.Second})
	}
	if err == nil {
		err = rt.Start(ctx)
	}
	stopCluster = func() {
		cancel()
		if rt != nil {
			_ = rt.Wait()
		}
		<-mgrDone
		_ = env.Stop()
		_ = logFile.Close()
		if !testFailed.Load() {
			_ = os.RemoveAll(state)
			return
		}
		fmt.Fprintf(os.Stderr, "kubectl-scim tests: logs and server files kept in %s\n", state)
	}
	if err != nil {
		stopCluster()
		return err
	}
	return nil
}

// testFailed keeps the state directory of a failed run for inspection.
var testFailed atomic.Bool

// result is one run of the plugin.
type result struct {
	code        int
	out, errOut string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errOut)
}

// testNow is the plugin's clock in tests: the real time (the operator and
// the servers run on it), read through Options.Now as in production.
func testNow() time.Time { return time.Now() }

// kubectlScim runs the plugin as `kubectl scim <args>` against the test
// control plane.
func kubectlScim(t testing.TB, args ...string) result {
	t.Helper()
	return kubectlScimCtx(context.Background(), t, args...)
}

func kubectlScimCtx(ctx context.Context, t testing.TB, args ...string) result {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			testFailed.Store(true)
		}
	})
	var out, errOut bytes.Buffer
	args = append(args, "--kubeconfig="+kubeconfig)
	if len(args) > 1 && args[0] == "__complete" {
		// The shell's completion request ends with the word to complete.
		args = append([]string{"__complete", "--kubeconfig=" + kubeconfig}, args[1:len(args)-1]...)
	}
	code := Main(ctx, args, Options{
		Streams:      genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Now:          testNow,
		PollInterval: 100 * time.Millisecond,
	})
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

var nsCounter atomic.Int64

// namespace creates a fresh namespace for one test.
func namespace(t testing.TB) string {
	t.Helper()
	cluster(t)
	ns := fmt.Sprintf("plugin-%d-%d", time.Now().UnixNano()%1e6, nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// host is the public host of the test tenants; the local ingress routes by it.
const host = "scim.plugin.test"

// tenantWithToken creates a tenant published at host/<ns>/<name> and a token
// for it, and waits until both are Ready and the server runs.
func tenantWithToken(t testing.TB, ns, name string, types ...scimv1alpha1.ResourceType) (*scimv1alpha1.ScimTenant, *scimv1alpha1.ScimToken) {
	t.Helper()
	ctx := context.Background()
	tenant := &scimv1alpha1.ScimTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       scimv1alpha1.ScimTenantSpec{ResourceTypes: types, Ingress: &scimv1alpha1.IngressSpec{Host: host}},
	}
	if err := k8s.Create(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	tok := &scimv1alpha1.ScimToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-entra"},
		Spec:       scimv1alpha1.ScimTokenSpec{TenantRef: scimv1alpha1.TenantReference{Name: name}},
	}
	if err := k8s.Create(ctx, tok); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(tenant), tenant); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(tenant.Status.Conditions, scimv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("tenant not Ready: %+v", c)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(tok), tok); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(tok.Status.Conditions, scimv1alpha1.ConditionReady) {
			return fmt.Errorf("token not Ready: %+v", tok.Status.Conditions)
		}
		if rt.ServerAddr(ns, name+"-scim") == "" {
			return fmt.Errorf("no server runs for %s/%s", ns, name)
		}
		return nil
	})
	// The server reloads its token file a moment after the Secret changes,
	// as a pod sees a Secret update after the kubelet syncs it.
	token := secretToken(t, ns, tok.SecretName())
	eventually(t, time.Minute, func() error { return serves(ns, name, token) })
	return tenant, tok
}

// serves reports whether the tenant's server accepts token.
func serves(ns, tenant, token string) error {
	req, _ := http.NewRequest(http.MethodGet, "http://"+rt.ServerAddr(ns, tenant+"-scim")+"/"+ns+"/"+tenant+"/scim/v2/Users?count=0", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server of %s/%s answers %d", ns, tenant, resp.StatusCode)
	}
	return nil
}

func secretToken(t testing.TB, ns, name string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data[scimv1alpha1.SecretKeyToken])
}

// localURL is make demo's Local URL of a tenant: the local ingress.
func localURL(tenant *scimv1alpha1.ScimTenant) string {
	return "http://" + rt.IngressAddr() + tenantBasePath(tenant)
}

// eventually retries check until it passes or timeout ends: it waits for
// the operator and the servers, and asserts nothing about how fast they are.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
