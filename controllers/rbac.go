// Package controllers reconciles ScimTenants into running SCIM services and
// ScimTokens into rotating bearer tokens.
package controllers

// The manager's permissions, least privilege: it reads the custom resources,
// writes their status, and manages the objects it creates for tenants. It
// needs no access to pods, and none to Secrets beyond the ones it writes (the
// cache only holds Secrets labelled as managed by the operator).
//
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants;scimtokens,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants/status;scimtokens/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants/finalizers;scimtokens/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;services;serviceaccounts;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
