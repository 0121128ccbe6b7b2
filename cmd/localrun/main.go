// Command localrun runs scim-operator on one machine, without a cluster: a
// kube-apiserver and etcd (envtest) with the CRDs, the operator's manager,
// and the local runtime (localruntime/) that runs the SCIM servers the
// operator creates and serves their Ingresses on one local port. It applies
// the sample tenant and token, prints how to call the tenant as Entra would,
// and stays up until interrupted. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/localruntime"
	"github.com/scim-operator/scim-operator/test/testenv"
)

func main() {
	var samples, stateDir, ingressAddr, mirrorAddr, postgresURL string
	flag.StringVar(&samples, "samples", "config/samples", "Directory of YAML to apply once the operator runs (kustomization.yaml is skipped).")
	flag.StringVar(&stateDir, "state-dir", ".local", "Where the kubeconfig, logs, pods' files and retained volumes go.")
	flag.StringVar(&ingressAddr, "ingress-address", "127.0.0.1:8480", "Address of the local ingress controller that serves every tenant's Ingress (make demo DEMO_PORT=8481 sets 127.0.0.1:8481). Checked before anything starts.")
	flag.StringVar(&mirrorAddr, "mirror-address", localruntime.MirrorAddress, "Address of the example webhook consumer (examples/directory-mirror) the sample ScimWebhook delivers to; empty: none.")
	flag.StringVar(&postgresURL, "postgres-url", os.Getenv("DEMO_POSTGRES_URL"), "A PostgreSQL database URL (env DEMO_POSTGRES_URL; make demo DEMO_POSTGRES_URL=...): also run the samples in <samples>/postgres, a tenant with two replicas on that database, its URL in Secret pg-main-app as CloudNativePG would create it.")
	flag.Parse()

	ctx := ctrl.SetupSignalHandler()
	if err := run(ctx, samples, stateDir, ingressAddr, mirrorAddr, postgresURL); err != nil {
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, samples, stateDir, ingressAddr, mirrorAddr, postgresURL string) error {
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	// Logs go to a file: the terminal shows only what the user acts on.
	logPath := filepath.Join(stateDir, "localrun.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := zap.New(zap.WriteTo(logFile), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	// Bind the ingress port first: a busy port fails now, not after the
	// control plane and the operator started.
	ingress, err := net.Listen("tcp", ingressAddr)
	if err != nil {
		return portBusy(ingressAddr, "DEMO_PORT", "--ingress-address", err)
	}
	defer ingress.Close()
	if mirrorAddr != "" {
		// The mirror starts later, from an address; check it is free now.
		ln, err := net.Listen("tcp", mirrorAddr)
		if err != nil {
			return portBusy(mirrorAddr, "DEMO_MIRROR_PORT", "--mirror-address", err)
		}
		ln.Close()
	}

	fmt.Println("Starting kube-apiserver and etcd...")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localrun: stopping the control plane:", err)
		}
	}()
	kubeconfig := filepath.Join(stateDir, "kubeconfig")
	if err := writeKubeconfig(env.Env, kubeconfig); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	rt, err := localruntime.New(localruntime.Options{
		Config: env.Config, StateDir: stateDir, ModuleRoot: root, IngressListener: ingress,
		Log: ctrl.Log.WithName("localrun"),
	})
	if err != nil {
		return err
	}
	mgrDone, err := startOperator(ctx, env, rt)
	if err != nil {
		return err
	}

	fmt.Println("Building the SCIM server and starting the local runtime...")
	if err := rt.Start(ctx); err != nil {
		return err
	}
	// Stop the servers before the control plane: deferred calls run last first.
	defer func() {
		cancel()
		_ = rt.Wait()
		<-mgrDone
	}()

	var mirror *localruntime.Mirror
	if mirrorAddr != "" {
		if mirror, err = localruntime.StartMirror(ctx, env.Client, mirrorAddr); err != nil {
			return fmt.Errorf("starting the directory mirror on %s: %w (use --mirror-address)", mirrorAddr, err)
		}
	}

	fmt.Printf("Applying %s...\n", samples)
	objs, err := localruntime.ReadObjects(samples)
	if err != nil {
		return err
	}
	if postgresURL != "" {
		pg := filepath.Join(samples, "postgres")
		fmt.Printf("Applying %s (PostgreSQL, two replicas)...\n", pg)
		more, err := localruntime.ReadObjects(pg)
		if err != nil {
			return err
		}
		objs = append([]*unstructured.Unstructured{postgresSecret(postgresURL)}, append(objs, more...)...)
	}
	if mirror != nil {
		retargetMirrorWebhooks(objs, mirror.Addr)
	}
	if err := localruntime.CreateAll(ctx, env.Client, objs); err != nil {
		return err
	}
	tenants, err := waitReady(ctx, env.Client, rt)
	if err != nil {
		return fmt.Errorf("%w (logs: %s)", err, logPath)
	}
	for i := range tenants {
		tenants[i].locate(rt)
	}
	mirrorAt := ""
	if mirror != nil {
		mirrorAt = mirror.Addr
	}
	printSummary(os.Stdout, tenants, rt.IngressAddr(), mirrorAt, serverVersion(env), kubeconfig, logPath)

	<-ctx.Done()
	fmt.Println("\nStopping: SCIM servers, operator, control plane...")
	return nil
}

// postgresSecret is the Secret the PostgreSQL sample tenant reads its
// database URL from, shaped as CloudNativePG's <cluster>-app Secret (key
// uri), which is what a cluster would have instead.
func postgresSecret(url string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"metadata":   map[string]any{"name": "pg-main-app", "namespace": "default"},
		"stringData": map[string]any{"uri": url},
	}}
}

// retargetMirrorWebhooks points the samples' ScimWebhooks that deliver to
// the mirror's default port (localruntime.MirrorAddress) at the port the
// mirror really listens on (make demo DEMO_MIRROR_PORT), so a moved mirror
// is not left behind while another demo's mirror gets the deliveries.
func retargetMirrorWebhooks(objs []*unstructured.Unstructured, mirrorAddr string) {
	_, defaultPort, _ := net.SplitHostPort(localruntime.MirrorAddress)
	_, port, err := net.SplitHostPort(mirrorAddr)
	if err != nil || port == defaultPort {
		return
	}
	for _, o := range objs {
		if o.GetKind() != "ScimWebhook" {
			continue
		}
		raw, _, _ := unstructured.NestedString(o.Object, "spec", "url")
		u, err := url.Parse(raw)
		if err != nil || u.Port() != defaultPort || !isLoopback(u.Hostname()) {
			continue
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
		_ = unstructured.SetNestedField(o.Object, u.String(), "spec", "url")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverVersion is the control plane's version, "" if it cannot be read.
func serverVersion(env *testenv.Env) string {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return ""
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// portBusy says what to do when addr, set by make's variable and
// localrun's flag, cannot be bound.
func portBusy(addr, makeVar, flagName string, err error) error {
	host, port, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return fmt.Errorf("%s %s: %w", flagName, addr, err)
	}
	next := 18480
	if p, convErr := strconv.Atoi(port); convErr == nil && p > 0 && p < 65435 {
		next = p + 100
	}
	return fmt.Errorf("cannot listen on %s (%w): is another make demo running? Stop it, or pick a free port: make demo %s=%d (localrun %s %s)",
		addr, err, makeVar, next, flagName, net.JoinHostPort(host, strconv.Itoa(next)))
}

// writeKubeconfig gives the user (kubectl) an admin of the local control plane.
func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "localrun-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// startOperator runs the operator's manager in-process, as cmd/manager does.
func startOperator(ctx context.Context, env *testenv.Env, rt *localruntime.Runtime) (<-chan error, error) {
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 controllers.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
	})
	if err != nil {
		return nil, err
	}
	err = controllers.Setup(mgr, controllers.Options{
		// The local runtime runs its own build of the server whatever the image.
		DefaultImage: "ghcr.io/scim-operator/scim-operator:local",
		Clock:        clock.RealClock{},
		// Webhooks deliver to receivers on this machine (the demo's mirror),
		// and the operator reads delivery status from the local servers.
		Webhooks: controllers.WebhookOptions{AllowPrivateNetworks: true, ServiceURL: rt.ServiceURL},
	})
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, nil
}
