package controllers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The PodMonitor shipped in config/prometheus (and the chart) selects the
// server pods this operator creates, scrapes their metrics port, and takes
// the tenant label from the pod label the operator sets: the alerts group by
// it. A renamed label or port here would silently empty every alert.
func TestPodMonitorSelectsTenantPods(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "config", "prometheus", "pod_monitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			PodMetricsEndpoints []struct {
				Port        string `json:"port"`
				Relabelings []struct {
					SourceLabels []string `json:"sourceLabels"`
					TargetLabel  string   `json:"targetLabel"`
				} `json:"relabelings"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
	// Only the fields read below: strict decoding into the
	// prometheus-operator types is test/chart's.
	if err := yaml.Unmarshal(raw, &pm); err != nil {
		t.Fatal(err)
	}
	tenant := newTenant("team-a", "acme")
	pod := desiredDeployment(tenant, "ghcr.io/scim-operator/scim-operator:test", "hash").Spec.Template
	if len(pm.Spec.Selector.MatchLabels) == 0 {
		t.Fatal("PodMonitor selects no labels")
	}
	for k, v := range pm.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("PodMonitor selects %s=%s; the server pods have %s=%q", k, v, k, pod.Labels[k])
		}
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool { return p.Name == ep.Port }) {
		t.Errorf("PodMonitor scrapes port %q; the server container has %v", ep.Port, pod.Spec.Containers[0].Ports)
	}
	// Prometheus exposes pod label L as __meta_kubernetes_pod_label_<L with
	// every non-alphanumeric character replaced by _>.
	metaLabel := "__meta_kubernetes_pod_label_" + strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, LabelTenant)
	var tenantFrom []string
	for _, r := range ep.Relabelings {
		if r.TargetLabel == "tenant" {
			tenantFrom = r.SourceLabels
		}
	}
	if !slices.Equal(tenantFrom, []string{metaLabel}) {
		t.Errorf("tenant label taken from %v, want [%s]", tenantFrom, metaLabel)
	}
	if pod.Labels[LabelTenant] != tenant.Name {
		t.Errorf("server pods carry %s=%q, want the tenant's name", LabelTenant, pod.Labels[LabelTenant])
	}
}
