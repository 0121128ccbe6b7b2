package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RotateAnnotation rotates a ScimToken once for every new value:
//
//	kubectl annotate scimtoken entra scim.operator.dev/rotate="$(date +%s)" --overwrite
const RotateAnnotation = "scim.operator.dev/rotate"

// Keys of a ScimToken's Secret, for the admin to copy into Entra.
const (
	// SecretKeyToken holds the plaintext bearer token: Entra's "Secret Token" field.
	SecretKeyToken = "token"
	// SecretKeyTenantURL holds the tenant's URL: Entra's "Tenant URL" field.
	SecretKeyTenantURL = "tenantURL"
)

// TokenScope is what a token may do.
// +kubebuilder:validation:Enum=read;write;activity
type TokenScope string

// Token scopes.
const (
	// ScopeRead allows GET and POST .search.
	ScopeRead TokenScope = "read"
	// ScopeWrite allows creating, changing and deleting resources.
	ScopeWrite TokenScope = "write"
	// ScopeActivity reads the tenant's request history (GET /v1/activity,
	// kubectl scim activity) and nothing else; never give it to Entra.
	ScopeActivity TokenScope = "activity"
)

// ScimTokenSpec declares a bearer token for a tenant.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName) && (!has(self.secretName) || self.secretName == oldSelf.secretName)",message="secretName is immutable: create a new ScimToken to write the token elsewhere"
// +kubebuilder:validation:XValidation:rule="!has(self.expiresAfter) || !has(self.rotation) || !has(self.rotation.interval) || duration(self.rotation.interval) <= duration(self.expiresAfter)",message="rotation.interval must not be longer than expiresAfter: the token would expire before it is rotated"
type ScimTokenSpec struct {
	// tenantRef names the ScimTenant, in the same namespace, that accepts this token.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable: create a new ScimToken for another tenant"
	TenantRef TenantReference `json:"tenantRef"`

	// secretName is the Secret the operator writes the token and the tenant URL
	// to (keys token and tenantURL), for the admin to paste into Entra.
	// Defaults to the ScimToken's name.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="secretName must be a valid Secret name (lowercase letters, digits, '-' and '.')"
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// scopes the token grants: read (GET, .search) and write (POST, PUT, PATCH,
	// DELETE). Entra needs both; an app that only reads the provisioned
	// directory gets a read token. activity reads the request history (GET
	// /v1/activity) for people and tools such as kubectl scim activity.
	// +kubebuilder:default={read,write}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	// +listType=set
	// +optional
	Scopes []TokenScope `json:"scopes,omitempty"`

	// rotation replaces the token on a schedule. Without an interval the token
	// rotates only on demand, through the scim.operator.dev/rotate annotation.
	// +optional
	Rotation *RotationSpec `json:"rotation,omitempty"`

	// expiresAfter is a hard lifetime: each issued token stops working this long
	// after it was issued, whether or not it was rotated. Entra quarantines a
	// provisioning job whose token expires, so pair it with a shorter rotation
	// interval and a process that pastes the new token.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="expiresAfter must be at least 1m"
	// +optional
	ExpiresAfter *metav1.Duration `json:"expiresAfter,omitempty"`

	// revoked stops the tenant from accepting the token, and its previous one, at once.
	// +optional
	Revoked bool `json:"revoked,omitempty"`

	// rateLimit is this token's own request budget. Every token has its own
	// bucket, so an app reading with one token cannot push Entra's token into
	// 429s. Unset: a bucket of the tenant's spec.rateLimit (no limit when the
	// tenant has none). burst defaults to twice requestsPerSecond.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
}

// TenantReference names a ScimTenant in the same namespace.
type TenantReference struct {
	// name of the ScimTenant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// RotationSpec says when a token is replaced and how long the old one still works.
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || !has(self.gracePeriod) || duration(self.gracePeriod) <= duration(self.interval)",message="rotation.gracePeriod must not be longer than rotation.interval: at most two tokens may be valid at once; shorten gracePeriod, or leave it unset to get 24h or the interval, whichever is shorter",fieldPath=".gracePeriod"
type RotationSpec struct {
	// interval between rotations, for example 720h. Unset: rotate on demand only.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="rotation.interval must be at least 1m"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// gracePeriod is how long the previous token keeps working after a rotation,
	// so the admin has time to paste the new one into Entra. Unset: 24h, or the
	// interval when that is shorter (so interval: 1h alone is valid). It is not
	// defaulted in the stored object because a fixed default longer than a
	// short interval would make the object invalid; the operator applies it.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +optional
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
}

// ScimTokenStatus is the token's timeline. It never holds a token: only
// SHA-256 hashes (a 256-bit random token cannot be recovered from its hash)
// and short fingerprints for people to compare.
type ScimTokenStatus struct {
	// revision counts issued tokens: 1 after the first issue, +1 per rotation.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// fingerprint is the first 12 hex characters of the current token's SHA-256;
	// the SCIM server logs the same fingerprint for each request.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// hash is the hex SHA-256 of the current token; the tenant's token file is built from it.
	// +optional
	Hash string `json:"hash,omitempty"`
	// issuedAt is when the current token was issued.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// nextRotationAt is when the interval rotates the token next.
	// +optional
	NextRotationAt *metav1.Time `json:"nextRotationAt,omitempty"`
	// expiresAt is when the current token stops working (expiresAfter).
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// previousFingerprint identifies the token replaced by the last rotation.
	// +optional
	PreviousFingerprint string `json:"previousFingerprint,omitempty"`
	// previousHash is the hex SHA-256 of the previous token while it is still accepted.
	// +optional
	PreviousHash string `json:"previousHash,omitempty"`
	// previousValidUntil is the end of the previous token's grace window.
	// +optional
	PreviousValidUntil *metav1.Time `json:"previousValidUntil,omitempty"`
	// lastRotateRequest is the last value of the scim.operator.dev/rotate
	// annotation acted upon, so each value rotates exactly once.
	// +optional
	LastRotateRequest string `json:"lastRotateRequest,omitempty"`
	// secretName is the Secret holding the token.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// lastUsedTime is when the tenant's server last served a request with
	// the current token (revision), as reported to the operator.
	// +optional
	LastUsedTime *metav1.Time `json:"lastUsedTime,omitempty"`
	// lastUsedRevision is the revision lastUsedTime was recorded for: after
	// a rotation it moves to previousLastUsedTime.
	// +optional
	LastUsedRevision int64 `json:"lastUsedRevision,omitempty"`
	// previousLastUsedTime is when the previous token (revision - 1) was
	// last used. Once it stops moving after a rotation, the client switched:
	// the previous token's grace can be ended early (docs/operations.md).
	// +optional
	PreviousLastUsedTime *metav1.Time `json:"previousLastUsedTime,omitempty"`
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready is True while the tenant accepts the current token.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ScimToken is a bearer token ("Secret Token" in Entra) for a ScimTenant,
// generated, written to a Secret and rotated by the operator.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=scimtk,categories=scim
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`
// +kubebuilder:printcolumn:name="Fingerprint",type=string,JSONPath=`.status.fingerprint`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Next Rotation",type=string,JSONPath=`.status.nextRotationAt`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ScimTokenSpec `json:"spec"`
	// +optional
	Status ScimTokenStatus `json:"status,omitempty"`
}

// ScimTokenList is a list of ScimTokens.
//
// +kubebuilder:object:root=true
type ScimTokenList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimToken `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimToken{}, &ScimTokenList{})
}
