package chart

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// `helm lint --strict` for each install mode: Chart.yaml, values and
// templates (YAML validity, resource names, deprecated APIs) with warnings
// counted as failures. The chart's Chart.yaml has no icon, which lint
// reports as information only.
func TestChartLint(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "charts", "scim-operator")
	kube := &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	for name, values := range map[string]map[string]any{
		"cluster-wide": {},
		"namespaced":   {"watchNamespaces": []any{"team-a", "team-b"}},
		"everything on": {"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true}, "podMonitor": map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
		}, "grafana": map[string]any{"dashboard": map[string]any{"enabled": true}}},
	} {
		t.Run(name, func(t *testing.T) {
			result := lint.AllWithKubeVersion(dir, values, releaseNamespace, kube)
			for _, m := range result.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// values.schema.json refuses what the manager would refuse at start-up,
// with a message naming the value.
func TestChartValuesSchema(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "charts", "scim-operator")
	kube := &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	for name, tt := range map[string]struct {
		values map[string]any
		want   string
	}{
		"unknown path policy":   {map[string]any{"ingressPathPolicy": "Prefix"}, "ingressPathPolicy"},
		"namespace not a label": {map[string]any{"watchNamespaces": []any{"Team_A"}}, "watchNamespaces"},
		"watch list not a list": {map[string]any{"watchNamespaces": "team-a"}, "watchNamespaces"},
		"no concurrency":        {map[string]any{"concurrency": 0}, "concurrency"},
	} {
		t.Run(name, func(t *testing.T) {
			result := lint.AllWithKubeVersion(dir, tt.values, releaseNamespace, kube)
			var found bool
			for _, m := range result.Messages {
				if m.Severity == support.ErrorSev && strings.Contains(m.Err.Error(), tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("values %v: want an error naming %s, got %v", tt.values, tt.want, result.Messages)
			}
		})
	}
}
