package localruntime

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

func TestPathMatches(t *testing.T) {
	prefix := func(p string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix)}
	}
	exact := networkingv1.HTTPIngressPath{Path: "/a/b", PathType: ptr.To(networkingv1.PathTypeExact)}
	for _, c := range []struct {
		p    networkingv1.HTTPIngressPath
		path string
		want bool
	}{
		{prefix("/apps/acme/scim/v2"), "/apps/acme/scim/v2", true},
		{prefix("/apps/acme/scim/v2"), "/apps/acme/scim/v2/Users/ABC", true},
		{prefix("/apps/acme/scim/v2"), "/apps/acme/scim/v2x", false},
		{prefix("/apps/acme/scim/v2"), "/APPS/acme/scim/v2/Users", false}, // no case folding
		{prefix("/apps/acme/scim/v2/"), "/apps/acme/scim/v2", true},
		{prefix("/"), "/anything", true},
		{exact, "/a/b", true},
		{exact, "/a/b/", false},
	} {
		if got := pathMatches(c.p, c.path); got != c.want {
			t.Errorf("%s %q vs %q: got %v", *c.p.PathType, c.p.Path, c.path, got)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, c := range []struct {
		rule, host string
		want       bool
	}{
		{"scim.example.com", "scim.example.com", true},
		{"SCIM.example.com", "scim.example.com", true},
		{"scim.example.com", "other.example.com", false},
		{"", "anything", true},
		{"*.example.com", "scim.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
	} {
		if got := hostMatches(c.rule, c.host); got != c.want {
			t.Errorf("rule %q host %q: got %v", c.rule, c.host, got)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4m": 4 << 20, "512k": 512 << 10, "1g": 1 << 30, "100": 100, "0": 0} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := parseSize("lots"); ok {
		t.Error("parseSize accepted garbage")
	}
}
