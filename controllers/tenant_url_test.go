package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestPathCovers(t *testing.T) {
	tests := []struct {
		prefix, path string
		want         bool
	}{
		{"/a", "/a", true},
		{"/a", "/a/b", true},
		{"/a", "/ab", false},
		{"/a/b", "/a", false},
		{"", "/anything/at/all", true}, // spec.ingress.path "/" claims the host
		{"/a/b", "/a/bc/d", false},
		{"/A", "/a", false}, // Ingress paths are case-sensitive
	}
	for _, tt := range tests {
		if got := pathCovers(tt.prefix, tt.path); got != tt.want {
			t.Errorf("pathCovers(%q, %q) = %v, want %v", tt.prefix, tt.path, got, tt.want)
		}
	}
}

// urlTenant is a tenant on host at path ("" for the default /<ns>/<name>),
// created at second age (lower is older).
func urlTenant(ns, name, host, path string, age int) scimv1alpha1.ScimTenant {
	t := scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID(ns + "/" + name),
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, age, 0, time.UTC)),
	}}
	if host != "" {
		t.Spec.Ingress = &scimv1alpha1.IngressSpec{Host: host, Path: path}
	}
	return t
}

func deleting(t scimv1alpha1.ScimTenant) scimv1alpha1.ScimTenant {
	t.DeletionTimestamp = &metav1.Time{Time: t.CreationTimestamp.Add(time.Hour)}
	return t
}

func TestURLHolder(t *testing.T) {
	const h = "scim.example.com"
	all := func(*scimv1alpha1.ScimTenant) bool { return true }
	tests := []struct {
		name     string
		tenant   scimv1alpha1.ScimTenant
		others   []scimv1alpha1.ScimTenant
		eligible func(*scimv1alpha1.ScimTenant) bool
		want     string // namespace/name of the holder, "" for none
	}{
		{"alone", urlTenant("a", "x", h, "", 1), nil, all, ""},
		{"newcomer claims another namespace's default path",
			urlTenant("a", "thief", h, "/b/acme", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "acme", h, "", 1)}, all, "b/acme"},
		{"newcomer claims a prefix of another's path",
			urlTenant("a", "thief", h, "/b", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "acme", h, "", 1)}, all, "b/acme"},
		{"newcomer claims the whole host",
			urlTenant("a", "thief", h, "/", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "acme", h, "", 1)}, all, "b/acme"},
		{"older tenant keeps its URL",
			urlTenant("b", "acme", h, "", 1), []scimv1alpha1.ScimTenant{urlTenant("a", "thief", h, "/b/acme", 2)}, all, ""},
		{"older tenant keeps its URL when the newcomer is in the earlier namespace",
			urlTenant("z", "acme", h, "/shared", 1), []scimv1alpha1.ScimTenant{urlTenant("a", "late", h, "/shared/x", 2)}, all, ""},
		{"same second: namespace then name decide",
			urlTenant("b", "x", h, "/p", 1), []scimv1alpha1.ScimTenant{urlTenant("a", "y", h, "/p", 1)}, all, "a/y"},
		{"no overlap: /ab beside /a",
			urlTenant("a", "x", h, "/ab", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "y", h, "/a", 1)}, all, ""},
		{"other host",
			urlTenant("a", "x", h, "/p", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "y", "other.example.com", "/p", 1)}, all, ""},
		{"a tenant that may not serve holds nothing",
			urlTenant("a", "x", h, "/p", 2), []scimv1alpha1.ScimTenant{urlTenant("b", "y", h, "/p", 1)},
			func(u *scimv1alpha1.ScimTenant) bool { return u.Name != "y" }, ""},
		{"a tenant being deleted holds nothing",
			urlTenant("a", "x", h, "/p", 2), []scimv1alpha1.ScimTenant{deleting(urlTenant("b", "y", h, "/p", 1))}, all, ""},
		{"a tenant that yields blocks nobody",
			// b/root claims the host but yields to a/one; c/two only overlaps b/root.
			urlTenant("c", "two", h, "/x/2", 3), []scimv1alpha1.ScimTenant{urlTenant("a", "one", h, "/x/1", 1), urlTenant("b", "root", h, "/", 2)}, all, ""},
		{"the cache's copy of the tenant itself is ignored",
			urlTenant("a", "x", h, "/p", 1), []scimv1alpha1.ScimTenant{urlTenant("a", "x", h, "/q", 1)}, all, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := urlHolder(&tt.tenant, tt.others, tt.eligible)
			name := ""
			if got != nil {
				name = got.Namespace + "/" + got.Name
			}
			if name != tt.want {
				t.Errorf("holder = %q, want %q", name, tt.want)
			}
		})
	}
}

func TestIngressPathPolicy(t *testing.T) {
	tenant := func(path string) *scimv1alpha1.ScimTenant {
		u := urlTenant("team", "acme", "scim.example.com", path, 1)
		return &u
	}
	tests := []struct {
		policy IngressPathPolicy
		path   string
		ok     bool
	}{
		{IngressPathAny, "/other/acme", true},
		{IngressPathNamespacePrefix, "", true}, // default /team/acme
		{IngressPathNamespacePrefix, "/team", true},
		{IngressPathNamespacePrefix, "/team/x/y", true},
		{IngressPathNamespacePrefix, "/teamx", false},
		{IngressPathNamespacePrefix, "/other/acme", false},
		{IngressPathNamespacePrefix, "/", false},
	}
	for _, tt := range tests {
		msg := tt.policy.pathNotAllowed(tenant(tt.path))
		if (msg == "") != tt.ok {
			t.Errorf("%s %q: %q, want allowed=%v", tt.policy, tt.path, msg, tt.ok)
		}
		if msg != "" && !strings.Contains(msg, "/team") {
			t.Errorf("message does not say which prefix is allowed: %s", msg)
		}
	}
	if _, err := ParseIngressPathPolicy("namespaceprefix"); err == nil {
		t.Error("ParseIngressPathPolicy accepted a misspelt policy")
	}
}

func TestImagePolicy(t *testing.T) {
	def, err := NewImagePolicy(nil, "ghcr.io/scim-operator/scim-operator:v1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := NewImagePolicy([]string{"registry.example.com/identity/", "nginx"}, "ghcr.io/scim-operator/scim-operator:v1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		policy *ImagePolicy
		image  string
		ok     bool
	}{
		{def, "ghcr.io/scim-operator/scim-operator:v2", true},
		{def, "ghcr.io/scim-operator/scim-operator@sha256:" + strings.Repeat("a", 64), true},
		{def, "ghcr.io/scim-operator/scim-operator-evil:v1", false},
		{def, "ghcr.io/scim-operator/scim-operator/sub:v1", false},
		{def, "docker.io/evil/miner", false},
		{def, "not a reference", false},
		{list, "registry.example.com/identity/scim:1", true},
		{list, "registry.example.com/identityx/scim:1", false},
		{list, "nginx:1.27", true}, // docker.io/library/nginx
		{list, "docker.io/library/nginx", true},
		{list, "ghcr.io/scim-operator/scim-operator:v1", false}, // an explicit list replaces the default
	}
	for _, tt := range tests {
		msg := tt.policy.notAllowed(tt.image)
		if (msg == "") != tt.ok {
			t.Errorf("%v: %q: %q, want allowed=%v", tt.policy.Allowed(), tt.image, msg, tt.ok)
		}
	}
	if msg := def.notAllowed("docker.io/evil/miner"); !strings.Contains(msg, "ghcr.io/scim-operator/scim-operator") {
		t.Errorf("message does not name the allowed repositories: %s", msg)
	}
	for _, bad := range []string{"ghcr.io/x/y:tag", "has space"} {
		if _, err := NewImagePolicy([]string{bad}, "x"); err == nil {
			t.Errorf("NewImagePolicy accepted %q", bad)
		}
	}
}

// BenchmarkURLHolder: one reconcile's URL check with 1,000 tenants sharing a
// host (each at its default path, so none overlap: the worst case, every
// tenant is granted and compared with every later one).
func BenchmarkURLHolder(b *testing.B) {
	const h = "scim.example.com"
	all := func(*scimv1alpha1.ScimTenant) bool { return true }
	tenants := make([]scimv1alpha1.ScimTenant, 1000)
	for i := range tenants {
		tenants[i] = urlTenant(fmt.Sprintf("team-%d", i), "acme", h, "", i)
	}
	newest := &tenants[len(tenants)-1]
	for b.Loop() {
		if urlHolder(newest, tenants, all) != nil {
			b.Fatal("unexpected holder")
		}
	}
}
