package chart

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes a rendered object into a prometheus-operator type,
// refusing unknown fields: the envtest API server has no monitoring.coreos.com
// CRDs, so this is what checks these objects' shape.
func decodeStrict(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	raw, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func configRule(t *testing.T) *monitoringv1.PrometheusRule {
	t.Helper()
	var rule monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(readFile(t, "config/prometheus/prometheus_rule.yaml"), &rule); err != nil {
		t.Fatalf("config/prometheus/prometheus_rule.yaml: %v", err)
	}
	return &rule
}

// The monitoring toggles add valid ServiceMonitor, PodMonitor, PrometheusRule
// and dashboard objects whose content is config/'s; off, they add nothing.
func TestChartMonitoringToggles(t *testing.T) {
	kinds := []string{"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"}
	off := render(t, map[string]any{})
	for _, k := range kinds {
		if n := len(find(off, k)); n != 0 {
			t.Errorf("defaults render %d %s, want none", n, k)
		}
	}

	var values map[string]any
	if err := yaml.Unmarshal([]byte(`{watchNamespaces: [team-a], metrics: {serviceMonitor: {enabled: true, labels: {release: kps}},
		podMonitor: {enabled: true, interval: 1m}, prometheusRule: {enabled: true, labels: {release: kps}}},
		grafana: {dashboard: {enabled: true, namespace: monitoring}}}`), &values); err != nil {
		t.Fatal(err)
	}
	on := render(t, values)
	for _, k := range kinds {
		if n := len(find(on, k)); n != 1 {
			t.Fatalf("toggles on render %d %s, want 1", n, k)
		}
	}

	var sm monitoringv1.ServiceMonitor
	decodeStrict(t, find(on, "ServiceMonitor")[0], &sm)
	ep := sm.Spec.Endpoints
	if len(ep) != 1 || ep[0].Port != "https" || ep[0].Scheme == nil || *ep[0].Scheme != "https" || !ep[0].HonorLabels || sm.Labels["release"] != "kps" {
		t.Errorf("ServiceMonitor: want one HTTPS endpoint on port https with honorLabels and the extra label, got %+v labels %v", ep, sm.Labels)
	}

	// config/prometheus/service_monitor.yaml scrapes the same way.
	var configSM monitoringv1.ServiceMonitor
	if err := yaml.UnmarshalStrict(readFile(t, "config/prometheus/service_monitor.yaml"), &configSM); err != nil {
		t.Fatalf("config/prometheus/service_monitor.yaml: %v", err)
	}
	if !reflect.DeepEqual(configSM.Spec.Endpoints[0].HTTPConfigWithProxyAndTLSFiles, ep[0].HTTPConfigWithProxyAndTLSFiles) ||
		configSM.Spec.Endpoints[0].Port != ep[0].Port || !configSM.Spec.Endpoints[0].HonorLabels {
		t.Errorf("ServiceMonitor endpoints differ between the chart and config/prometheus:\n chart %+v\nconfig %+v", ep[0], configSM.Spec.Endpoints[0])
	}

	var pm, configPM monitoringv1.PodMonitor
	decodeStrict(t, find(on, "PodMonitor")[0], &pm)
	if err := yaml.UnmarshalStrict(readFile(t, "config/prometheus/pod_monitor.yaml"), &configPM); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pm.Spec.Selector, configPM.Spec.Selector) {
		t.Errorf("PodMonitor selector %v, config has %v", pm.Spec.Selector, configPM.Spec.Selector)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 || !reflect.DeepEqual(pm.Spec.PodMetricsEndpoints[0].RelabelConfigs, configPM.Spec.PodMetricsEndpoints[0].RelabelConfigs) {
		t.Errorf("PodMonitor relabelings differ from config/prometheus/pod_monitor.yaml")
	}
	if got := pm.Spec.NamespaceSelector.MatchNames; !reflect.DeepEqual(got, []string{"team-a"}) {
		t.Errorf("PodMonitor watches %v, want the watched namespaces", got)
	}
	if iv := pm.Spec.PodMetricsEndpoints[0].Interval; iv != "1m" {
		t.Errorf("PodMonitor interval %v, want 1m", iv)
	}

	var pr monitoringv1.PrometheusRule
	decodeStrict(t, find(on, "PrometheusRule")[0], &pr)
	if !reflect.DeepEqual(pr.Spec, configRule(t).Spec) {
		t.Errorf("chart PrometheusRule spec differs from config/prometheus/prometheus_rule.yaml")
	}

	cm := find(on, "ConfigMap")[0]
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap in %q labels %v", cm.GetNamespace(), cm.GetLabels())
	}
	if strings.TrimSpace(data["scim-operator.json"]) != strings.TrimSpace(string(readFile(t, "config/grafana/scim-operator.json"))) {
		t.Error("dashboard ConfigMap does not hold config/grafana/scim-operator.json")
	}
}

// metricDefinition finds metric names in the Go sources: the Name of
// prometheus.*Opts literals and the first argument of prometheus.NewDesc.
var metricDefinition = regexp.MustCompile(`(?:\bName:\s*|NewDesc\(\s*)"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

// libraryMetrics are the metrics of libraries the operator uses
// (controller-runtime) and Prometheus's own per-target series; their names
// are not in this repository's code.
var libraryMetrics = map[string]bool{
	"up":                                 true,
	"controller_runtime_reconcile_total": true,
	"controller_runtime_reconcile_errors_total": true,
	"workqueue_depth": true,
}

// codeMetrics returns every metric name the repository's non-test Go code defines.
func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(raw), "prometheus") {
			return err
		}
		for _, m := range metricDefinition.FindAllStringSubmatch(string(raw), -1) {
			if strings.Contains(m[1], "_") { // metric names; skips schema Names like "User"
				out[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkExpr parses a PromQL expression and reports the metrics it names that
// no code defines (histogram series resolve to their histogram).
func checkExpr(expr string, defined map[string]bool) error {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return err
	}
	var missing []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !defined[name] && !defined[base] && !libraryMetrics[name] {
			missing = append(missing, name)
		}
		return nil
	})
	if len(missing) > 0 {
		return fmt.Errorf("metrics not defined in the code: %v", missing)
	}
	return nil
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every alert parses, queries only metrics the code exports, says how bad it
// is and what happened, and links a runbook section that exists.
func TestAlertRules(t *testing.T) {
	defined := codeMetrics(t)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, "docs/operations.md")), "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[githubAnchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	const runbookBase = "https://github.com/scim-operator/scim-operator/blob/main/docs/operations.md#"
	seen := map[string]bool{}
	rule := configRule(t)
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				t.Errorf("group %s: a rule without alert (recording rules are not expected here)", g.Name)
				continue
			}
			t.Run(name, func(t *testing.T) {
				if seen[name] {
					t.Errorf("alert %s defined twice", name)
				}
				seen[name] = true
				if err := checkExpr(r.Expr.String(), defined); err != nil {
					t.Errorf("expr: %v", err)
				}
				if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" && sev != "info" {
					t.Errorf("severity %q, want critical, warning or info", sev)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if r.Annotations[a] == "" {
						t.Errorf("no %s annotation", a)
					}
				}
				url := r.Annotations["runbook_url"]
				anchor, ok := strings.CutPrefix(url, runbookBase)
				if !ok || anchor != strings.ToLower(name) {
					t.Errorf("runbook_url %q, want %s%s", url, runbookBase, strings.ToLower(name))
				}
				if !anchors[anchor] {
					t.Errorf("docs/operations.md has no heading for #%s", anchor)
				}
			})
		}
	}
	if len(seen) == 0 {
		t.Fatal("no alerts")
	}
}

// The dashboard is valid JSON, every query parses and names metrics the
// code exports, and its panels do not overlap.
func TestGrafanaDashboard(t *testing.T) {
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string                   `json:"title"`
			Type    string                   `json:"type"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "config/grafana/scim-operator.json"), &dash); err != nil {
		t.Fatalf("config/grafana/scim-operator.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatal("dashboard without uid or panels")
	}
	defined := codeMetrics(t)
	cells := map[[2]int]string{}
	queries := 0
	for _, p := range dash.Panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panel %q overlaps %q", p.Title, other)
					x, y = 1<<30, 1<<30
					break
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			if err := checkExpr(tg.Expr, defined); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, tg.Expr, err)
			}
		}
	}
	t.Logf("%d panels, %d queries", len(dash.Panels), queries)
}
