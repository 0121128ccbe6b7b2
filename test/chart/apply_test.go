package chart

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/scim-operator/scim-operator/test/testenv"
)

const fieldOwner = "helm-chart-test"

// The chart installs on a real API server: its CRDs are applied for real
// (as Helm installs crds/ before anything else), then every rendered object of
// each mode is applied with a server-side dry run, so the API server validates
// it (schemas, RBAC escalation checks, name rules) without storing it.
// monitoring.coreos.com objects are left out: envtest has no prometheus-operator
// CRDs; TestChartMonitoringToggles decodes them strictly instead.
func TestChartAppliesToAPIServer(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// CRDs first, for real, from the chart's crds/.
	ch := loadChart(t)
	var crdNames []string
	for _, f := range ch.CRDObjects() {
		for _, o := range decodeAll(t, f.Name, f.File.Data) {
			if err := c.Patch(ctx, o, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
				t.Fatalf("applying CRD %s: %v", o.GetName(), err)
			}
			crdNames = append(crdNames, o.GetName())
		}
	}
	if len(crdNames) < 2 {
		t.Fatalf("chart installs %d CRDs, want ScimTenant and ScimToken at least", len(crdNames))
	}
	for _, name := range crdNames {
		waitEstablished(ctx, t, c, name)
	}

	for _, ns := range []string{releaseNamespace, "team-a", "team-b", "monitoring"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	modes := []struct {
		name   string
		values map[string]any
	}{
		{"cluster-wide", map[string]any{"grafana": map[string]any{"dashboard": map[string]any{"enabled": true}}}},
		{"namespaced", map[string]any{
			"watchNamespaces":          []any{"team-a", "team-b"},
			"allowedImageRepositories": []any{"ghcr.io/acme/scim"},
			"metrics":                  map[string]any{"certSecret": "metrics-tls"},
			"grafana":                  map[string]any{"dashboard": map[string]any{"enabled": true, "namespace": "monitoring"}},
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			applied := 0
			for _, o := range render(t, m.values) {
				if o.GroupVersionKind().Group == "monitoring.coreos.com" {
					continue
				}
				dry := o.DeepCopy()
				if err := c.Patch(ctx, dry, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership, client.DryRunAll); err != nil {
					t.Errorf("dry-run apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
					continue
				}
				applied++
				// Nothing was stored: a dry run leaves no trace.
				probe := &unstructured.Unstructured{}
				probe.SetGroupVersionKind(o.GroupVersionKind())
				if err := c.Get(ctx, client.ObjectKeyFromObject(o), probe); err == nil {
					t.Errorf("%s %s was stored by a dry run", o.GetKind(), o.GetName())
				}
			}
			if applied < 10 {
				t.Errorf("only %d objects applied; the chart renders too little", applied)
			}
			t.Logf("%d objects accepted by the API server (dry run)", applied)
		})
	}
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err == nil {
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not established: %v", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
