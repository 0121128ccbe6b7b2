package controllers

import (
	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of every object the operator writes.
const FieldOwner = "scim-operator"

// Labels the operator puts on what it creates. LabelManagedBy also scopes the
// manager's Secret cache, so it never holds Secrets it does not manage.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelTenant    = "scim.operator.dev/tenant"
	LabelToken     = "scim.operator.dev/token"
	LabelWebhook   = "scim.operator.dev/webhook"

	ManagedByValue = "scim-operator"
	appName        = "scimserver"
)

// Annotations the operator writes.
const (
	// AnnotationConfigHash on the pod template rolls the server out when its
	// configuration changes. Tokens are not part of it: the token file reaches
	// running pods through the mounted Secret, without a restart.
	AnnotationConfigHash = "scim.operator.dev/config-hash"
	// Token Secret bookkeeping: written together with the token, so the
	// ScimToken's status can be recovered if the manager stops between
	// writing the Secret and its status.
	AnnotationRevision      = "scim.operator.dev/revision"
	AnnotationIssuedAt      = "scim.operator.dev/issued-at"
	AnnotationRotateRequest = "scim.operator.dev/rotate-request"
	// AnnotationPreviousValidUntil on a webhook's Secret ends the grace
	// window of its previous signing secret (RFC 3339).
	AnnotationPreviousValidUntil = "scim.operator.dev/previous-valid-until"
)

// Names of the objects of a tenant. Tenant names are at most 45 characters
// (a CEL rule), so every name here stays a valid DNS label.
func serverName(t *scimv1alpha1.ScimTenant) string      { return t.Name + "-scim" }
func configMapName(t *scimv1alpha1.ScimTenant) string   { return t.Name + "-scim-config" }
func tokenFileSecret(t *scimv1alpha1.ScimTenant) string { return t.Name + "-scim-tokens" }
func dataClaimName(t *scimv1alpha1.ScimTenant) string   { return t.Name + "-scim-data" }

// webhookFileSecret holds the tenant's webhook file (signing secrets
// included); operatorTokenSecret the operator's own status-scope token.
func webhookFileSecret(t *scimv1alpha1.ScimTenant) string   { return t.Name + "-scim-webhooks" }
func operatorTokenSecret(t *scimv1alpha1.ScimTenant) string { return t.Name + "-scim-operator" }

// tenantLabels select a tenant's objects and pods.
func tenantLabels(t *scimv1alpha1.ScimTenant) map[string]string {
	return map[string]string{
		LabelName:      appName,
		LabelInstance:  t.Name,
		LabelManagedBy: ManagedByValue,
		LabelTenant:    t.Name,
	}
}

// selectorLabels are the immutable subset used in the Deployment's selector.
func selectorLabels(t *scimv1alpha1.ScimTenant) map[string]string {
	return map[string]string{LabelName: appName, LabelInstance: t.Name}
}
