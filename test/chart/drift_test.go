package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// The chart's crds/ and files/ are copies that `make manifests` (chart-sync)
// takes from config/: a stale copy fails here and in `make verify`.
func TestChartCopiesMatchConfig(t *testing.T) {
	ch := loadChart(t)
	chartCRDs := map[string][]byte{}
	for _, crd := range ch.CRDObjects() {
		chartCRDs[filepath.Base(crd.Name)] = crd.File.Data
	}
	bases, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, path := range bases {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		if got, ok := chartCRDs[name]; !ok {
			t.Errorf("chart crds/ lacks %s: run make manifests", name)
		} else if !bytes.Equal(got, want) {
			t.Errorf("chart crds/%s differs from config/crd/bases: run make manifests", name)
		}
		delete(chartCRDs, name)
	}
	for name := range chartCRDs {
		t.Errorf("chart crds/%s has no source in config/crd/bases: remove it (make manifests)", name)
	}

	copies := map[string]string{
		"files/manager-role.yaml":    "config/rbac/role.yaml",
		"files/prometheus_rule.yaml": "config/prometheus/prometheus_rule.yaml",
		"files/pod_monitor.yaml":     "config/prometheus/pod_monitor.yaml",
		"files/scim-operator.json":   "config/grafana/scim-operator.json",
	}
	roles, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "rbac", "common", "*_role.yaml"))
	if err != nil || len(roles) == 0 {
		t.Fatalf("no roles in config/rbac/common: %v", err)
	}
	for _, r := range roles {
		copies["files/rbac-common/"+filepath.Base(r)] = "config/rbac/common/" + filepath.Base(r)
	}
	for _, f := range ch.Files {
		if _, ok := copies[f.Name]; !ok && strings.HasPrefix(f.Name, "files/rbac-common/") {
			t.Errorf("chart %s has no source in config/rbac/common: remove it (make manifests)", f.Name)
		}
	}
	for file, source := range copies {
		i := slices.IndexFunc(ch.Files, func(f *chart.File) bool { return f.Name == file })
		if i < 0 {
			t.Errorf("chart lacks %s (a copy of %s): run make manifests", file, source)
			continue
		}
		if !bytes.Equal(ch.Files[i].Data, readFile(t, source)) {
			t.Errorf("chart %s differs from %s: run make manifests", file, source)
		}
	}
}

// rulesOf decodes the rules of a rendered or committed Role or ClusterRole.
func rulesOf(t *testing.T, obj map[string]any) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &role); err != nil {
		t.Fatal(err)
	}
	return role.Rules
}

// configRoles reads every Role and ClusterRole under dir, by name.
func configRoles(t *testing.T, dir string) map[string][]rbacv1.PolicyRule {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]rbacv1.PolicyRule{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeAll(t, p, raw) {
			if k := o.GetKind(); k == "Role" || k == "ClusterRole" {
				out[o.GetName()] = rulesOf(t, o.Object)
			}
		}
	}
	return out
}

// The manager holds exactly the rules of config/rbac/role.yaml (generated
// from controllers/rbac.go): cluster-wide without watchNamespaces, and only
// in each watched namespace with it, like config/namespaced. The roles both
// modes share are those of config/rbac/common.
func TestChartRBACMatchesConfig(t *testing.T) {
	managerRules := configRoles(t, "config/rbac")["manager-role"]
	if len(managerRules) == 0 {
		t.Fatal("config/rbac/role.yaml has no manager-role rules")
	}
	common := configRoles(t, "config/rbac/common")
	sa := rbacv1.Subject{Kind: "ServiceAccount", Name: releaseName + "-controller-manager", Namespace: releaseNamespace}

	tests := []struct {
		name      string
		values    map[string]any
		managerIn []string // namespaces with a manager Role; nil: cluster-wide
	}{
		{name: "cluster-wide", values: map[string]any{}},
		{name: "namespaced", values: map[string]any{"watchNamespaces": []any{"team-a", "team-b"}}, managerIn: []string{"team-a", "team-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.values)
			prefix := releaseName + "-"
			managerName := prefix + "manager-role"

			var managerNS []string
			for _, r := range find(objs, "Role") {
				if r.GetName() == managerName {
					managerNS = append(managerNS, r.GetNamespace())
					if got := rulesOf(t, r.Object); !reflect.DeepEqual(got, managerRules) {
						t.Errorf("Role %s/%s rules differ from config/rbac/role.yaml:\n got %v\nwant %v", r.GetNamespace(), r.GetName(), got, managerRules)
					}
				}
			}
			var clusterManager bool
			gotCommon := map[string][]rbacv1.PolicyRule{}
			for _, r := range append(find(objs, "ClusterRole"), find(objs, "Role")...) {
				name := strings.TrimPrefix(r.GetName(), prefix)
				switch {
				case r.GetName() == managerName && r.GetKind() == "ClusterRole":
					clusterManager = true
					if got := rulesOf(t, r.Object); !reflect.DeepEqual(got, managerRules) {
						t.Errorf("ClusterRole %s rules differ from config/rbac/role.yaml:\n got %v\nwant %v", r.GetName(), got, managerRules)
					}
				case r.GetName() != managerName:
					gotCommon[name] = rulesOf(t, r.Object)
				}
			}
			if tt.managerIn == nil && (!clusterManager || len(managerNS) > 0) {
				t.Errorf("cluster-wide: want the manager's rules in a ClusterRole only; ClusterRole %v, Roles in %v", clusterManager, managerNS)
			}
			if tt.managerIn != nil && (clusterManager || !slices.Equal(managerNS, tt.managerIn)) {
				t.Errorf("namespaced: want the manager's rules in Roles in %v only; ClusterRole %v, Roles in %v", tt.managerIn, clusterManager, managerNS)
			}
			if !reflect.DeepEqual(gotCommon, common) {
				t.Errorf("shared roles differ from config/rbac/common:\n got %v\nwant %v", gotCommon, common)
			}

			// Every binding of the manager's role names the chart's ServiceAccount.
			bindings := append(find(objs, "ClusterRoleBinding"), find(objs, "RoleBinding")...)
			var bound []string
			for _, b := range bindings {
				var rb rbacv1.RoleBinding
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(b.Object, &rb); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{sa}) {
					t.Errorf("%s %s binds %v, want %v", b.GetKind(), b.GetName(), rb.Subjects, sa)
				}
				if rb.RoleRef.Name == managerName {
					bound = append(bound, b.GetKind()+"/"+b.GetNamespace())
				}
			}
			want := []string{"ClusterRoleBinding/"}
			if tt.managerIn != nil {
				want = nil
				for _, ns := range tt.managerIn {
					want = append(want, "RoleBinding/"+ns)
				}
			}
			if !slices.Equal(bound, want) {
				t.Errorf("manager role bound by %v, want %v", bound, want)
			}
		})
	}
}

// The manager's flags follow the values; defaults match config/manager.
func TestChartManagerDeployment(t *testing.T) {
	managerFlags := map[string]bool{}
	for _, m := range regexp.MustCompile(`flag\.\w+Var\(&\w+, "([a-z-]+)"`).FindAllStringSubmatch(string(readFile(t, "cmd/manager/main.go")), -1) {
		managerFlags[m[1]] = true
	}
	if len(managerFlags) < 5 {
		t.Fatalf("found only %d flags in cmd/manager/main.go", len(managerFlags))
	}
	tests := []struct {
		name    string
		values  string
		want    []string // args that must be present
		notWant []string // arg prefixes that must be absent
		image   string
		server  string // SCIM_SERVER_IMAGE
	}{
		{
			name:    "defaults",
			values:  `{}`,
			want:    []string{"--leader-elect", "--metrics-bind-address=:8443", "--metrics-secure=true", "--ingress-path-policy=Any"},
			notWant: []string{"--watch-namespaces", "--allowed-image-repositories", "--metrics-cert-dir"},
			image:   "ghcr.io/scim-operator/scim-operator:latest",
			server:  "ghcr.io/scim-operator/scim-operator:latest",
		},
		{
			name: "namespaced with an allow-list",
			values: `{watchNamespaces: [team-a, team-b], allowedImageRepositories: [ghcr.io/acme/scim, registry.acme.dev/],
				ingressPathPolicy: NamespacePrefix, image: {tag: v1.2.3}, scimServerImage: ghcr.io/acme/scim:v1,
				metrics: {certSecret: metrics-tls}}`,
			want: []string{"--watch-namespaces=team-a,team-b", "--allowed-image-repositories=ghcr.io/acme/scim,registry.acme.dev/",
				"--ingress-path-policy=NamespacePrefix", "--metrics-cert-dir=/etc/metrics-certs"},
			image:  "ghcr.io/scim-operator/scim-operator:v1.2.3",
			server: "ghcr.io/acme/scim:v1",
		},
		{
			name:    "metrics off",
			values:  `{metrics: {enabled: false}, leaderElection: false}`,
			want:    []string{"--metrics-bind-address=0"},
			notWant: []string{"--leader-elect", "--metrics-secure"},
			image:   "ghcr.io/scim-operator/scim-operator:latest",
			server:  "ghcr.io/scim-operator/scim-operator:latest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var values map[string]any
			if err := yaml.Unmarshal([]byte(tt.values), &values); err != nil {
				t.Fatal(err)
			}
			objs := render(t, values)
			deps := find(objs, "Deployment")
			if len(deps) != 1 {
				t.Fatalf("want one Deployment, got %d", len(deps))
			}
			containers, _, _ := unstructured.NestedSlice(deps[0].Object, "spec", "template", "spec", "containers")
			c := containers[0].(map[string]any)
			args, _, _ := unstructured.NestedStringSlice(c, "args")
			for _, a := range args {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				if !managerFlags[name] {
					t.Errorf("arg %s: cmd/manager defines no flag %s", a, name)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(args, w) {
					t.Errorf("args %v lack %s", args, w)
				}
			}
			for _, nw := range tt.notWant {
				if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, nw) }) {
					t.Errorf("args %v hold %s", args, nw)
				}
			}
			if c["image"] != tt.image {
				t.Errorf("image %v, want %s", c["image"], tt.image)
			}
			env, _, _ := unstructured.NestedSlice(c, "env")
			var server any
			for _, e := range env {
				if e.(map[string]any)["name"] == "SCIM_SERVER_IMAGE" {
					server = e.(map[string]any)["value"]
				}
			}
			if server != tt.server {
				t.Errorf("SCIM_SERVER_IMAGE %v, want %s", server, tt.server)
			}
			services := find(objs, "Service")
			metricsOn := !strings.Contains(tt.values, "enabled: false")
			if metricsOn != (len(services) == 1) {
				t.Errorf("metrics enabled %v but %d metrics Services", metricsOn, len(services))
			}
		})
	}
}
