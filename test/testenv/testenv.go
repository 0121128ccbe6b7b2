// Package testenv starts a real control plane (kube-apiserver and etcd built
// by hack/envtest/build.sh) with the operator's CRDs installed, for tests.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// KubernetesVersion is the control plane version the tests run against; keep
// it in step with KUBERNETES_VERSION in the Makefile.
const KubernetesVersion = "1.36.3"

// Env is a running control plane.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	Scheme *k8sruntime.Scheme
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the source of package testenv")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir is where kube-apiserver and etcd are: KUBEBUILDER_ASSETS when
// set, otherwise the directory hack/envtest/build.sh fills.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "k8s", fmt.Sprintf("%s-%s-%s", KubernetesVersion, runtime.GOOS, runtime.GOARCH))
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("no %s in %s: run `make envtest` (or set KUBEBUILDER_ASSETS)", bin, dir)
		}
	}
	return dir, nil
}

// Scheme has the built-in types and the operator's API (as the manager's;
// this package cannot import controllers, whose tests import it).
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(scimv1alpha1.AddToScheme(s))
	return s
}

// Start boots the control plane and installs the CRDs from config/crd/bases,
// failing if they are missing.
func Start() (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	crds := filepath.Join(root, "config", "crd", "bases")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	// envtest's default Service range is a /24: 254 ClusterIPs for the whole
	// run. No namespace is ever garbage-collected (envtest runs no
	// controller-manager), so the 200-tenant scale test alone takes 200 of
	// them and a second pass (-count=2) or a few more tests would fail with
	// "range is full". A /16 leaves room for every test, however often run.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	if len(env.CRDs) < 2 {
		_ = env.Stop()
		return nil, fmt.Errorf("expected the ScimTenant and ScimToken CRDs in %s, installed %d", crds, len(env.CRDs))
	}
	// Raise client-side rate limits: tests create hundreds of objects.
	cfg.QPS, cfg.Burst = 500, 1000
	s := Scheme()
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Env: env, Config: cfg, Client: c, Scheme: s}, nil
}

// Stop shuts the control plane down.
func (e *Env) Stop() error { return e.Env.Stop() }

// GVR of the operator's resources, for tests that use the dynamic client.
var (
	TenantGVR = schema.GroupVersionResource{Group: scimv1alpha1.GroupVersion.Group, Version: scimv1alpha1.GroupVersion.Version, Resource: "scimtenants"}
	TokenGVR  = schema.GroupVersionResource{Group: scimv1alpha1.GroupVersion.Group, Version: scimv1alpha1.GroupVersion.Version, Resource: "scimtokens"}
)
