package controllers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/scim-operator/scim-operator/test/testenv"
)

// The permissions table of docs/operations.md is the documented list; the
// RBAC the installs grant the manager's ServiceAccount must be exactly it.

// grant is one verb on one resource: "group/resource verb".
type grants map[string]bool

func (g grants) add(groups, resources, verbs []string) {
	for _, gr := range groups {
		for _, r := range resources {
			for _, v := range verbs {
				g[gr+"/"+r+" "+v] = true
			}
		}
	}
}

func (g grants) addRules(rules []rbacv1.PolicyRule) {
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			g.add([]string{"nonResource"}, r.NonResourceURLs, r.Verbs)
			continue
		}
		g.add(r.APIGroups, r.Resources, r.Verbs)
	}
}

// diff says what got has beyond want and what it lacks.
func (g grants) diff(want grants) string {
	var extra, missing []string
	for k := range g {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if !g[k] {
			missing = append(missing, k)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	if len(extra)+len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("extra (not documented): %v; missing (documented, not granted): %v", extra, missing)
}

// documentedPermissions parses the permissions table of docs/operations.md by scope.
func documentedPermissions(t *testing.T, root string) map[string]grants {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(raw), "<!-- permissions table: parsed by controllers/rbac_test.go -->")
	if !ok {
		t.Fatal("docs/operations.md has no permissions table marker")
	}
	out := map[string]grants{}
	list := func(cell string) []string {
		var items []string
		for _, s := range strings.Split(cell, ",") {
			s = strings.Trim(strings.TrimSpace(s), "`")
			if s == "core" {
				s = ""
			}
			items = append(items, s)
		}
		return items
	}
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		if i < 2 {
			continue // header and separator
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			t.Fatalf("permissions table row %q: want 5 cells", line)
		}
		scope := strings.TrimSpace(cells[0])
		if out[scope] == nil {
			out[scope] = grants{}
		}
		out[scope].add(list(cells[1]), list(cells[2]), list(cells[3]))
	}
	for _, scope := range []string{"watched", "operator", "cluster"} {
		if len(out[scope]) == 0 {
			t.Fatalf("permissions table has no %s rows", scope)
		}
	}
	return out
}

// baseName drops kustomize's namePrefix, so raw and built names compare.
func baseName(s string) string { return strings.TrimPrefix(s, "scim-operator-") }

// operatorNamespace maps the raw manifests' placeholder to the installed namespace.
func operatorNamespace(ns string) string {
	if ns == "system" {
		return "scim-operator-system"
	}
	return ns
}

// loadRBAC reads every Role, ClusterRole and binding under dirs. A
// directory's kustomization namespace (team-a/) applies to the resources it
// includes from ../watched.
func loadRBAC(t *testing.T, dirs ...string) (roles map[string][]rbacv1.PolicyRule, bindings []rbacv1.RoleBinding, clusterBinding []bool) {
	t.Helper()
	roles = map[string][]rbacv1.PolicyRule{}
	read := func(path, namespace string) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rs, bs, cluster := loadRBACDocs(t, path, raw)
		for _, r := range rs {
			ns := "" // ClusterRoles
			if r.Kind == "Role" {
				ns = operatorNamespace(r.Namespace)
				if namespace != "" {
					ns = namespace
				}
			}
			roles[ns+"/"+baseName(r.Name)] = r.Rules
		}
		for i, b := range bs {
			if !cluster[i] {
				b.Namespace = operatorNamespace(b.Namespace)
				if namespace != "" {
					b.Namespace = namespace
				}
			}
			bindings = append(bindings, b)
			clusterBinding = append(clusterBinding, cluster[i])
		}
	}
	for _, dir := range dirs {
		var k struct {
			Namespace string   `json:"namespace"`
			Resources []string `json:"resources"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &k); err != nil {
			t.Fatal(err)
		}
		for _, res := range k.Resources {
			path := filepath.Join(dir, res)
			if strings.HasSuffix(res, ".yaml") {
				read(path, "")
				continue
			}
			// A directory of role manifests (../watched) placed in this directory's namespace.
			entries, err := filepath.Glob(filepath.Join(path, "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if filepath.Base(e) != "kustomization.yaml" {
					read(e, k.Namespace)
				}
			}
		}
	}
	return roles, bindings, clusterBinding
}

// loadRBACDocs decodes the roles and bindings of a multi-document manifest.
// Roles and ClusterRoles share one shape here (a ClusterRole has no
// namespace); cluster[i] says whether bindings[i] is a ClusterRoleBinding.
func loadRBACDocs(t *testing.T, path string, raw []byte) (roles []rbacv1.Role, bindings []rbacv1.RoleBinding, cluster []bool) {
	t.Helper()
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch head.Kind {
		case "Role", "ClusterRole":
			var r rbacv1.Role
			if err := yaml.Unmarshal(doc, &r); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if head.Kind == "ClusterRole" {
				r.Namespace = ""
			}
			roles = append(roles, r)
		case "RoleBinding", "ClusterRoleBinding":
			var b rbacv1.RoleBinding
			if err := yaml.Unmarshal(doc, &b); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if head.Kind == "ClusterRoleBinding" {
				b.Namespace = ""
			}
			bindings = append(bindings, b)
			cluster = append(cluster, head.Kind == "ClusterRoleBinding")
		}
	}
	return roles, bindings, cluster
}

// managerGrants resolves what the manager's ServiceAccount is granted, by
// where: "cluster" for ClusterRoleBindings, otherwise the namespace.
func managerGrants(t *testing.T, dirs ...string) map[string]grants {
	t.Helper()
	roles, bindings, cluster := loadRBAC(t, dirs...)
	out := map[string]grants{}
	for i, b := range bindings {
		bound := false
		for _, s := range b.Subjects {
			bound = bound || (s.Kind == "ServiceAccount" && baseName(s.Name) == "controller-manager" && operatorNamespace(s.Namespace) == "scim-operator-system")
		}
		if !bound {
			continue
		}
		key := "/" + baseName(b.RoleRef.Name)
		if b.RoleRef.Kind == "Role" {
			key = b.Namespace + key
		}
		rules, ok := roles[key]
		if !ok {
			t.Fatalf("binding %s refers to %s %s, which is not in %v", b.Name, b.RoleRef.Kind, key, dirs)
		}
		where := b.Namespace
		if cluster[i] {
			where = "cluster"
		}
		if out[where] == nil {
			out[where] = grants{}
		}
		out[where].addRules(rules)
	}
	return out
}

func merge(gs ...grants) grants {
	out := grants{}
	for _, g := range gs {
		for k := range g {
			out[k] = true
		}
	}
	return out
}

func TestRBACMatchesDocumentedPermissions(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc := documentedPermissions(t, root)
	config := func(p ...string) string { return filepath.Join(append([]string{root, "config"}, p...)...) }

	t.Run("cluster-wide install", func(t *testing.T) {
		got := managerGrants(t, config("rbac"), config("rbac", "common"))
		want := map[string]grants{
			"cluster":              merge(doc["watched"], doc["cluster"]),
			"scim-operator-system": doc["operator"],
		}
		for where, w := range want {
			if d := got[where].diff(w); d != "" {
				t.Errorf("%s: %s", where, d)
			}
		}
		if len(got) != len(want) {
			t.Errorf("grants in %d places, want %d: %v", len(got), len(want), got)
		}
	})

	t.Run("namespaced install", func(t *testing.T) {
		got := managerGrants(t, config("namespaced", "team-a"), config("namespaced", "team-b"), config("rbac", "common"))
		want := map[string]grants{
			"cluster":              doc["cluster"],
			"scim-operator-system": doc["operator"],
			"team-a":               doc["watched"],
			"team-b":               doc["watched"],
		}
		for where, w := range want {
			if d := got[where].diff(w); d != "" {
				t.Errorf("%s: %s", where, d)
			}
		}
		if len(got) != len(want) {
			t.Errorf("grants in %d places, want %d: %v", len(got), len(want), got)
		}
		for k := range got["cluster"] {
			if strings.HasPrefix(k, "/secrets ") {
				t.Errorf("the namespaced install grants %s cluster-wide", k)
			}
		}
	})
}
