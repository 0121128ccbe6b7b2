// Package controllers reconciles ScimTenants into running SCIM services and
// ScimTokens into rotating bearer tokens.
package controllers

// The manager's permissions, derived from what the code does (the table in
// docs/operations.md lists each with its reason, and rbac_test.go fails when
// the generated role differs from it):
//
//   - Every object it writes, it writes with server-side apply: patch, and
//     create, since the API server also authorizes an apply that creates the
//     object as a create (TestManagerWorksWithClusterRole fails without it).
//     Never update.
//   - Before applying, it reads the object through the cache and, when the
//     cache does not have it (a Secret without the managed-by label, or one
//     not yet seen), with an uncached get, so a user's object of the same
//     name is reported instead of overwritten: get.
//   - The cache lists and watches the kinds it owns or watches: list, watch.
//     RBAC cannot scope by label, so with a cluster-wide install list and
//     watch on Secrets cover every Secret in the cluster, although the cache
//     asks only for the operator's labelled ones. The namespaced install
//     (config/namespaced, --watch-namespaces) confines that to the listed
//     namespaces.
//   - Owned objects are garbage-collected through owner references: no
//     delete, except Ingresses and NetworkPolicies, which the operator
//     deletes itself when the spec stops wanting them.
//   - Owner references with blockOwnerDeletion need update on the owner's
//     finalizers subresource (OwnerReferencesPermissionEnforcement).
//   - It reads ScimTenants and ScimTokens through the cache only (list,
//     watch; no get) and never changes their spec or metadata, only their
//     status (patch).
//
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants;scimtokens,verbs=list;watch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants/status;scimtokens/status,verbs=patch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants/finalizers;scimtokens/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;services;serviceaccounts;persistentvolumeclaims,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
