package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func ingressTenant(ns, name, host, path string) *scimv1alpha1.ScimTenant {
	t := newTenant(ns, name)
	t.Spec.Ingress = &scimv1alpha1.IngressSpec{Host: host, Path: path}
	return t
}

// A tenant in one namespace claims the default URL of an older tenant in
// another: it gets no Ingress (the one it had is deleted) and Ready=False
// URLConflict naming the holder, which keeps serving; moving back to a free
// path gives it its Ingress again without any other change.
func TestTenantURLConflictNewcomerInOtherNamespace(t *testing.T) {
	victimNS, thiefNS := namespaceNamed(t, "url-victim-"), namespaceNamed(t, "url-thief-")
	defer startManagerWith(t, []string{victimNS, thiefNS}, Options{})()
	const host = "shared.example.com"

	victim := ingressTenant(victimNS, "acme", host, "") // default path /<victimNS>/acme
	mustCreate(t, victim)
	victimURL := host + "/" + victimNS + "/acme/scim/v2"
	if got := ingressPath(t, victimNS, "acme"); got != victimURL {
		t.Fatalf("victim's Ingress routes %s, want %s", got, victimURL)
	}
	afterCreationSecond(t, victim)

	// The newcomer starts on its own path and gets an Ingress.
	mustCreate(t, ingressTenant(thiefNS, "thief", host, "/"+thiefNS+"/thief"))
	ingressPath(t, thiefNS, "thief")

	// It moves to a prefix of the victim's path: it loses its Ingress.
	updateTenant(t, thiefNS, "thief", func(u *scimv1alpha1.ScimTenant) { u.Spec.Ingress.Path = "/" + victimNS })
	c := tenantCondition(t, thiefNS, "thief", "Ready", "False", scimv1alpha1.ReasonURLConflict)
	if !strings.Contains(c.Message, victimNS+"/acme") {
		t.Errorf("URLConflict message does not name the holder: %s", c.Message)
	}
	tenantCondition(t, thiefNS, "thief", "Degraded", "True", scimv1alpha1.ReasonURLConflict)
	noIngress(t, thiefNS, "thief")
	if got := ingressPath(t, victimNS, "acme"); got != victimURL {
		t.Errorf("victim's Ingress now routes %s, want %s", got, victimURL)
	}
	// The holder is not told off for the newcomer's claim.
	tenantCondition(t, victimNS, "acme", "Ready", "False", scimv1alpha1.ReasonVolumePending)

	// Exactly the victim's URL: refused too.
	updateTenant(t, thiefNS, "thief", func(u *scimv1alpha1.ScimTenant) { u.Spec.Ingress.Path = "/" + victimNS + "/acme" })
	tenantCondition(t, thiefNS, "thief", "Ready", "False", scimv1alpha1.ReasonURLConflict)
	noIngress(t, thiefNS, "thief")

	// Back on its own path: served again.
	updateTenant(t, thiefNS, "thief", func(u *scimv1alpha1.ScimTenant) { u.Spec.Ingress.Path = "/" + thiefNS + "/thief" })
	if got, want := ingressPath(t, thiefNS, "thief"), host+"/"+thiefNS+"/thief/scim/v2"; got != want {
		t.Errorf("thief's Ingress routes %s, want %s", got, want)
	}
	tenantCondition(t, thiefNS, "thief", "Ready", "False", scimv1alpha1.ReasonVolumePending)
}

// The other order of namespaces, a newcomer that is refused from its
// creation on, another host that does not conflict, and recovery when the
// holder is deleted (the host index re-queues the waiting tenant).
func TestTenantURLConflictRecoversWhenHolderGoes(t *testing.T) {
	// The holder's namespace sorts after the newcomer's: only age decides.
	newNS, oldNS := namespaceNamed(t, "url-a-"), namespaceNamed(t, "url-z-")
	defer startManagerWith(t, []string{newNS, oldNS}, Options{})()
	const host = "scim.example.com"

	holder := ingressTenant(oldNS, "first", host, "/shared")
	mustCreate(t, holder)
	ingressPath(t, oldNS, "first")
	afterCreationSecond(t, holder)

	mustCreate(t, ingressTenant(newNS, "second", host, "/shared/second"))
	mustCreate(t, ingressTenant(newNS, "elsewhere", "other.example.com", "/shared")) // same path, other host
	c := tenantCondition(t, newNS, "second", "Ready", "False", scimv1alpha1.ReasonURLConflict)
	if !strings.Contains(c.Message, oldNS+"/first") || !strings.Contains(c.Message, "scim.example.com/shared/") {
		t.Errorf("URLConflict message: %s", c.Message)
	}
	ingressPath(t, newNS, "elsewhere")
	tenantCondition(t, newNS, "elsewhere", "Ready", "False", scimv1alpha1.ReasonVolumePending)
	noIngress(t, newNS, "second")

	if err := k8s.Delete(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	if got, want := ingressPath(t, newNS, "second"), host+"/shared/second/scim/v2"; got != want {
		t.Errorf("Ingress routes %s, want %s", got, want)
	}
	tenantCondition(t, newNS, "second", "Ready", "False", scimv1alpha1.ReasonVolumePending)
}

// With --ingress-path-policy=NamespacePrefix a path outside /<namespace> is
// refused outright and nothing is rolled out; such a refused claim, although
// older, does not keep the namespace that owns the path from its URL.
func TestTenantPathPolicyNamespacePrefix(t *testing.T) {
	ns, owner := namespace(t), namespace(t)
	defer startManagerWith(t, []string{ns, owner}, Options{IngressPathPolicy: IngressPathNamespacePrefix})()
	const host = "scim.example.com"
	squatter := ingressTenant(ns, "outside", host, "/"+owner)
	mustCreate(t, squatter)
	mustCreate(t, ingressTenant(ns, "inside", host, "/"+ns+"/inside"))
	c := tenantCondition(t, ns, "outside", "Ready", "False", scimv1alpha1.ReasonURLNotAllowed)
	if !strings.Contains(c.Message, "/"+ns) {
		t.Errorf("message does not say which prefix is allowed: %s", c.Message)
	}
	ingressPath(t, ns, "inside")
	if err := get(t, &appsv1.Deployment{}, ns, "outside-scim"); err == nil {
		t.Error("a Deployment was rolled out for a refused tenant")
	}

	afterCreationSecond(t, squatter)
	mustCreate(t, ingressTenant(owner, "acme", host, "")) // /<owner>/acme, under the squatter's claim
	if got, want := ingressPath(t, owner, "acme"), host+"/"+owner+"/acme/scim/v2"; got != want {
		t.Errorf("owner's Ingress routes %s, want %s", got, want)
	}
	tenantCondition(t, owner, "acme", "Ready", "False", scimv1alpha1.ReasonVolumePending)
}
