package controllers

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Defaults of spec.networkPolicy.
const (
	defaultIngressControllerNamespace = "ingress-nginx"
	defaultMonitoringNamespace        = "monitoring"
	// namespaceNameLabel is set by the API server on every namespace.
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// networkPolicyEnabled reports whether the tenant asks for a NetworkPolicy.
func networkPolicyEnabled(t *scimv1alpha1.ScimTenant) bool {
	np := t.Spec.NetworkPolicy
	return np != nil && ptr.Deref(np.Enabled, true)
}

// desiredNetworkPolicy admits, to the server's pods, the SCIM port from the
// ingress controller's namespace, the listed namespaces and the operator's
// namespace (operatorNamespace, empty when unknown), and the metrics port
// from the monitoring namespaces; nil when the tenant asks for none. Probes
// come from the kubelet on the node, which NetworkPolicies do not filter.
func desiredNetworkPolicy(t *scimv1alpha1.ScimTenant, operatorNamespace string) *networkingv1.NetworkPolicy {
	if !networkPolicyEnabled(t) {
		return nil
	}
	spec := t.Spec.NetworkPolicy
	controllerNS := spec.IngressControllerNamespace
	if controllerNS == "" {
		controllerNS = defaultIngressControllerNamespace
	}
	namespaces := append([]string{controllerNS}, spec.IngressNamespaces...)
	if operatorNamespace != "" {
		namespaces = append(namespaces, operatorNamespace)
	}
	var scimPeers []networkingv1.NetworkPolicyPeer
	seen := map[string]bool{}
	for _, ns := range namespaces {
		if !seen[ns] {
			seen[ns] = true
			scimPeers = append(scimPeers, networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{namespaceNameLabel: ns},
			}})
		}
	}
	monitoring := spec.MonitoringNamespaceSelector
	if monitoring == nil {
		monitoring = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceNameLabel: defaultMonitoringNamespace}}
	}
	port := func(name string) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromString(name))}}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(t, serverName(t)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(t)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: port(httpPortName), From: scimPeers},
				{Ports: port(metricsPortName), From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: monitoring.DeepCopy()}}},
			},
		},
	}
}
