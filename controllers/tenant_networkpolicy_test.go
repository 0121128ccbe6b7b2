package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// peerNamespaces lists the namespace names a rule's peers select by name.
func peerNamespaces(rule networkingv1.NetworkPolicyIngressRule) []string {
	var out []string
	for _, p := range rule.From {
		if p.NamespaceSelector != nil {
			out = append(out, p.NamespaceSelector.MatchLabels[namespaceNameLabel])
		}
	}
	slices.Sort(out)
	return out
}

func TestTenantNetworkPolicy(t *testing.T) {
	ns := namespace(t)
	defer startManagerWith(t, []string{ns}, Options{OperatorNamespace: "scim-operator-system"})()

	// Absent: no NetworkPolicy.
	mustCreate(t, newTenant(ns, "open"))
	eventually(t, 30*time.Second, func() error { return get(t, &appsv1.Deployment{}, ns, "open-scim") })
	if err := get(t, &networkingv1.NetworkPolicy{}, ns, "open-scim"); err == nil {
		t.Error("a NetworkPolicy was created without spec.networkPolicy")
	}

	// {}: the defaults, as admission fills them in.
	tenant := newTenant(ns, "fenced")
	tenant.Spec.NetworkPolicy = &scimv1alpha1.NetworkPolicySpec{IngressNamespaces: []string{"reporting"}}
	mustCreate(t, tenant)
	np := &networkingv1.NetworkPolicy{}
	eventually(t, 30*time.Second, func() error { return get(t, np, ns, "fenced-scim") })
	if !ownerIs(np, "fenced") {
		t.Error("NetworkPolicy not controlled by the tenant")
	}
	spec := np.Spec
	if spec.PodSelector.MatchLabels[LabelInstance] != "fenced" || len(spec.PodSelector.MatchLabels) != 2 {
		t.Errorf("pod selector %v", spec.PodSelector.MatchLabels)
	}
	if !slices.Equal(spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(spec.Ingress) != 2 {
		t.Fatalf("spec %s", toJSON(spec))
	}
	scim, metrics := spec.Ingress[0], spec.Ingress[1]
	if got := peerNamespaces(scim); !slices.Equal(got, []string{"ingress-nginx", "reporting", "scim-operator-system"}) {
		t.Errorf("SCIM port admits namespaces %v", got)
	}
	if len(scim.Ports) != 1 || scim.Ports[0].Port.StrVal != "http" {
		t.Errorf("SCIM rule ports %s", toJSON(scim.Ports))
	}
	if got := peerNamespaces(metrics); !slices.Equal(got, []string{"monitoring"}) || len(metrics.Ports) != 1 || metrics.Ports[0].Port.StrVal != "metrics" {
		t.Errorf("metrics rule %s", toJSON(metrics))
	}
	// The named ports exist on the server's container.
	dep := &appsv1.Deployment{}
	if err := get(t, dep, ns, "fenced-scim"); err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		ports = append(ports, p.Name)
	}
	if !slices.Equal(ports, []string{"http", "metrics"}) {
		t.Errorf("container ports %v", ports)
	}

	// Own settings: another controller namespace, a monitoring selector.
	updateTenant(t, ns, "fenced", func(u *scimv1alpha1.ScimTenant) {
		u.Spec.NetworkPolicy.IngressControllerNamespace = "traefik"
		u.Spec.NetworkPolicy.MonitoringNamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "observability"}}
	})
	eventually(t, 30*time.Second, func() error {
		if err := get(t, np, ns, "fenced-scim"); err != nil {
			return err
		}
		scim, metrics := np.Spec.Ingress[0], np.Spec.Ingress[1]
		if got := peerNamespaces(scim); !slices.Equal(got, []string{"reporting", "scim-operator-system", "traefik"}) {
			return fmt.Errorf("SCIM port admits %v", got)
		}
		if sel := metrics.From[0].NamespaceSelector.MatchLabels; len(sel) != 1 || sel["team"] != "observability" {
			return fmt.Errorf("monitoring selector %v", sel)
		}
		return nil
	})

	// Switched off: deleted.
	updateTenant(t, ns, "fenced", func(u *scimv1alpha1.ScimTenant) { u.Spec.NetworkPolicy.Enabled = ptr.To(false) })
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &networkingv1.NetworkPolicy{}, ns, "fenced-scim"); err == nil {
			return fmt.Errorf("NetworkPolicy still there")
		}
		return nil
	})
	var got scimv1alpha1.ScimTenant
	if err := get(t, &got, ns, "fenced"); err != nil {
		t.Fatal(err)
	}
	if got.Spec.NetworkPolicy.IngressControllerNamespace != "traefik" {
		t.Errorf("spec lost: %s", toJSON(got.Spec.NetworkPolicy))
	}
}

func TestDesiredNetworkPolicyDefaults(t *testing.T) {
	tenant := newTenant("team", "acme")
	if desiredNetworkPolicy(tenant, "ops") != nil {
		t.Error("NetworkPolicy without spec.networkPolicy")
	}
	// Objects that skipped admission defaulting get the same defaults.
	tenant.Spec.NetworkPolicy = &scimv1alpha1.NetworkPolicySpec{IngressNamespaces: []string{"ops"}}
	np := desiredNetworkPolicy(tenant, "ops")
	if got := peerNamespaces(np.Spec.Ingress[0]); !slices.Equal(got, []string{"ingress-nginx", "ops"}) {
		t.Errorf("SCIM port admits %v (the operator's namespace once)", got)
	}
	if got := peerNamespaces(np.Spec.Ingress[1]); !slices.Equal(got, []string{"monitoring"}) {
		t.Errorf("metrics port admits %v", got)
	}
	if got := peerNamespaces(desiredNetworkPolicy(tenant, "").Spec.Ingress[0]); !slices.Equal(got, []string{"ingress-nginx", "ops"}) {
		t.Errorf("without an operator namespace: %v", got)
	}
}
