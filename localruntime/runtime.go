package localruntime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
)

// Options configure a Runtime.
type Options struct {
	// Config reaches the API server.
	Config *rest.Config
	// StateDir holds pods' volumes and logs, retained volumes and the server
	// binary. Created if missing.
	StateDir string
	// ServerBinary runs every container. Empty: build ./cmd/scimserver of
	// ModuleRoot into <StateDir>/bin once, with BuildServer.
	ServerBinary string
	// ModuleRoot is the scim-operator checkout to build the server from.
	ModuleRoot string
	// IngressAddress is where the ingress controller listens; default 127.0.0.1:0.
	IngressAddress string
	// IngressListener, when set, is used instead of listening on
	// IngressAddress: a caller binds the port before anything slow starts, so
	// a busy port fails at once. Start takes ownership of it.
	IngressListener net.Listener
	// GCInterval is how often orphans are collected; default 1s.
	GCInterval time.Duration
	// StopTimeout is how long a stopped server gets between SIGTERM and SIGKILL; default 5s.
	StopTimeout time.Duration
	// Log receives the runtime's logs; default ctrl.Log.
	Log logr.Logger
}

// Runtime runs the operator's tenants on this machine. Create it with New,
// run it with Start, and cancel Start's context to stop every process.
type Runtime struct {
	opts    Options
	log     logr.Logger
	mgr     manager.Manager
	client  client.Client
	reader  client.Reader
	ingress net.Listener

	mu sync.Mutex
	// pods are each Deployment's pods, by slot.
	pods map[client.ObjectKey][]*pod
	// next spreads each Service's requests across its ready pods, round
	// robin; per Service, so one tenant's traffic does not skew another's.
	next map[client.ObjectKey]uint64

	// exits wakes the Deployment controller when a server process ends.
	exits chan event.TypedGenericEvent[*appsv1.Deployment]
	done  chan struct{}
	err   error
}

// New prepares a Runtime; nothing runs until Start.
func New(opts Options) (*Runtime, error) {
	if opts.Config == nil || opts.StateDir == "" {
		return nil, errors.New("localruntime: Config and StateDir are required")
	}
	if opts.IngressAddress == "" {
		opts.IngressAddress = "127.0.0.1:0"
	}
	if opts.GCInterval == 0 {
		opts.GCInterval = time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 5 * time.Second
	}
	if opts.Log.GetSink() == nil {
		opts.Log = ctrl.Log
	}
	abs, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.StateDir = abs
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(opts.Config, ctrl.Options{
		Scheme:                 controllers.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOptions(),
		Logger:                 opts.Log.WithName("localruntime"),
		// The operator's manager may run in the same process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		opts:   opts,
		log:    opts.Log.WithName("localruntime"),
		mgr:    mgr,
		client: mgr.GetClient(),
		reader: mgr.GetAPIReader(),
		pods:   map[client.ObjectKey][]*pod{},
		next:   map[client.ObjectKey]uint64{},
		exits:  make(chan event.TypedGenericEvent[*appsv1.Deployment], 64),
		done:   make(chan struct{}),
	}
	if err := r.setupControllers(); err != nil {
		return nil, err
	}
	return r, nil
}

// cacheOptions watch only the operator's objects (they all carry its
// managed-by label) and every ScimTenant and ScimToken (owners, for the GC).
func cacheOptions() cache.Options {
	return cache.Options{
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{controllers.LabelManagedBy: controllers.ManagedByValue}),
		ByObject: map[client.Object]cache.ByObject{
			&scimv1alpha1.ScimTenant{}: {Label: labels.Everything()},
			&scimv1alpha1.ScimToken{}:  {Label: labels.Everything()},
		},
	}
}

// Start builds the server if needed, opens the ingress port, starts the
// controllers and returns once their caches are in sync. Everything runs
// until ctx is done; Wait returns once every process has been stopped.
func (r *Runtime) Start(ctx context.Context) error {
	if r.opts.ServerBinary == "" {
		bin, err := BuildServer(ctx, r.opts.ModuleRoot, filepath.Join(r.opts.StateDir, "bin"))
		if err != nil {
			return err
		}
		r.opts.ServerBinary = bin
	}
	ln := r.opts.IngressListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", r.opts.IngressAddress); err != nil {
			return fmt.Errorf("ingress address: %w", err)
		}
	}
	r.ingress = ln
	srv := &http.Server{Handler: r.ingressHandler(), ReadHeaderTimeout: 10 * time.Second}

	mgrCtx, cancel := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- r.mgr.Start(mgrCtx) }()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error(err, "Ingress controller stopped")
		}
	}()
	go func() {
		defer close(r.done)
		var mgrErr error
		select {
		case <-ctx.Done():
			mgrErr = <-mgrDone
		case mgrErr = <-mgrDone:
			cancel()
		}
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(shutdown)
		stop()
		r.stopAll()
		r.err = mgrErr
	}()

	syncCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if !r.mgr.GetCache().WaitForCacheSync(syncCtx) {
		cancel()
		<-r.done
		return errors.Join(errors.New("localruntime: caches did not sync"), r.err)
	}
	r.log.Info("Local runtime started", "ingress", ln.Addr().String(), "stateDir", r.opts.StateDir, "server", r.opts.ServerBinary)
	return nil
}

// Wait blocks until the runtime has stopped every process after its context
// ended, and returns the manager's error.
func (r *Runtime) Wait() error {
	<-r.done
	return r.err
}

// IngressAddr is the host:port the ingress controller serves; valid after Start.
func (r *Runtime) IngressAddr() string { return r.ingress.Addr().String() }

// StateDir is the absolute state directory.
func (r *Runtime) StateDir() string { return r.opts.StateDir }

// VolumeDir is where a PersistentVolumeClaim's data lives on this machine.
func (r *Runtime) VolumeDir(namespace, claim string) string {
	return filepath.Join(r.opts.StateDir, "volumes", namespace, claim)
}

// podDir holds one pod of a Deployment: its projected volumes, its
// emptyDirs and its log, <state>/pods/<namespace>/<deployment>/<slot>.
func (r *Runtime) podDir(key client.ObjectKey, slot int) string {
	return filepath.Join(r.opts.StateDir, "pods", key.Namespace, key.Name, strconv.Itoa(slot))
}

// LogFile is the server log of a Deployment's first pod; the others' are
// beside it (Pods lists them).
func (r *Runtime) LogFile(namespace, deployment string) string {
	return filepath.Join(r.podDir(client.ObjectKey{Namespace: namespace, Name: deployment}, 0), "server.log")
}

// ServerAddr is the 127.0.0.1 address of a Deployment's first running
// server, ready ones first, or "" when none runs.
func (r *Runtime) ServerAddr(namespace, deployment string) string {
	var running string
	for _, p := range r.Pods(namespace, deployment) {
		switch {
		case p.PID == 0:
		case p.Ready:
			return p.Addr
		case running == "":
			running = p.Addr
		}
	}
	return running
}

// Pod is what Pods reports of one of a Deployment's pods.
type Pod struct {
	Name     string // <deployment>-<slot>
	Addr     string // 127.0.0.1:<port> of its current process
	PID      int    // of its current process; 0 once it has exited
	Ready    bool   // its last readiness probe passed and it still runs
	Restarts int    // how often its process was restarted
	LogFile  string
}

// Pods lists a Deployment's pods in slot order: the tests find a replica's
// process here to kill it, as a node failure would.
func (r *Runtime) Pods(namespace, deployment string) []Pod {
	key := client.ObjectKey{Namespace: namespace, Name: deployment}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Pod
	for _, p := range r.pods[key] {
		if p == nil {
			continue
		}
		info := Pod{Name: p.name, Addr: p.addr, Restarts: p.restarts, LogFile: filepath.Join(r.podDir(key, p.slot), "server.log")}
		if p.running() {
			info.PID, info.Ready = p.cmd.Process.Pid, p.ready
		}
		out = append(out, info)
	}
	return out
}
