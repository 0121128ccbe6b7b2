// Package v1alpha1 contains the scim.operator.dev/v1alpha1 API: ScimTenant,
// one SCIM 2.0 service for Microsoft Entra ID provisioning, and ScimToken, a
// rotating bearer token for a tenant.
//
// +kubebuilder:object:generate=true
// +groupName=scim.operator.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "scim.operator.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
