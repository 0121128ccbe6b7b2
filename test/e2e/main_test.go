package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/localruntime"
	"github.com/scim-operator/scim-operator/test/testenv"
)

var (
	k8s client.Client
	rt  *localruntime.Runtime
	// operatorClock is the operator's clock. It stands still unless a test
	// moves it (rotate, holding clockMu), so the operator's side of a
	// grace window never depends on how fast the machine runs. It starts
	// at the real time: the servers check notAfter with their real clocks,
	// and the operator's instants must be real instants for them.
	operatorClock = clocktesting.NewFakeClock(time.Now())
	clockMu       sync.Mutex
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	state, err := os.MkdirTemp("", "scim-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Logs go to a file kept on failure: the test output stays readable.
	logFile, err := os.Create(filepath.Join(state, "e2e.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile), zap.UseDevMode(true)))

	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	k8s = env.Client

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rt, err = localruntime.New(localruntime.Options{
		Config: env.Config, StateDir: state, ModuleRoot: root, StopTimeout: 3 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 controllers.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(),
	})
	if err == nil {
		err = controllers.Setup(mgr, controllers.Options{
			DefaultImage: "scim-operator:e2e", Clock: operatorClock,
			Webhooks: controllers.WebhookOptions{AllowPrivateNetworks: true, ServiceURL: rt.ServiceURL},
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()

	err = rt.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	code := m.Run()

	cancel()
	_ = rt.Wait()
	<-mgrDone
	if code == 0 {
		_ = os.RemoveAll(state)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: logs, pods' files and server logs kept in %s\n", state)
	}
	return code
}
