package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResumeAnnotation clears a webhook's DeliveryFailing state once for every
// new value: delivery retries the waiting event at once.
//
//	kubectl annotate scimwebhook crm-sync scim.operator.dev/resume="$(date +%s)" --overwrite
const ResumeAnnotation = "scim.operator.dev/resume"

// Keys of a ScimWebhook's Secret.
const (
	// SecretKeyWebhookSecret holds the current Standard Webhooks signing
	// secret (whsec_<base64>), for the receiver to verify signatures with.
	SecretKeyWebhookSecret = "secret"
	// SecretKeyWebhookPrevious holds the previous signing secret while its
	// grace window lasts: deliveries are signed with both, so a receiver
	// still verifying with the old one keeps working until it switches.
	SecretKeyWebhookPrevious = "previous"
)

// WebhookEventType is a change event type a webhook may subscribe to.
// +kubebuilder:validation:Enum=user.created;user.updated;user.deactivated;user.reactivated;user.deleted;group.created;group.updated;group.deleted;group.member_added;group.member_removed
type WebhookEventType string

// ScimWebhookSpec declares where a tenant's change events are pushed.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName) && (!has(self.secretName) || self.secretName == oldSelf.secretName)",message="secretName is immutable: create a new ScimWebhook to write the signing secret elsewhere"
type ScimWebhookSpec struct {
	// tenantRef names the ScimTenant, in the same namespace, whose changes are delivered.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable: create a new ScimWebhook for another tenant"
	TenantRef TenantReference `json:"tenantRef"`

	// url receives the events as HTTP POSTs. It must be https, or http for an
	// in-cluster Service name (name, name.namespace.svc or
	// name.namespace.svc.cluster.local), whose traffic stays in the cluster.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z][-a-zA-Z0-9+.]*://[^/?#]+')",message="url must be an absolute URL such as https://app.example.com/hooks/scim"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][-a-zA-Z0-9+.]*://') || self.startsWith('https://') || self.matches('^http://[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*[.]svc([.]cluster[.]local)?(:[0-9]+)?([/?#].*)?$') || self.matches('^http://[a-z0-9]([-a-z0-9]*[a-z0-9])?(:[0-9]+)?([/?#].*)?$')",message="url must use https; http is allowed only for in-cluster Service names (name, name.namespace.svc, name.namespace.svc.cluster.local)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][-a-zA-Z0-9+.]*://[^/?#]*@')",message="url must not carry user information: the URL is shown in status; authenticate the receiver through the signature"
	URL string `json:"url"`

	// eventTypes delivers only these event types; empty delivers every type.
	// Filtered events still advance the webhook's cursor.
	// +kubebuilder:validation:MaxItems=10
	// +listType=set
	// +optional
	EventTypes []WebhookEventType `json:"eventTypes,omitempty"`

	// paused stops delivery without losing anything: events wait in the
	// tenant's change log (within its retention) until paused is false.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// secretName is the Secret the operator writes the signing secret to (key
	// secret; key previous during a rotation's grace window). Defaults to the
	// ScimWebhook's name.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="secretName must be a valid Secret name (lowercase letters, digits, '-' and '.')"
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// rotation replaces the signing secret on a schedule, and says how long the
	// previous one still signs deliveries. Without an interval the secret
	// rotates only on demand, through the scim.operator.dev/rotate annotation.
	// +kubebuilder:default={gracePeriod:"24h"}
	// +optional
	Rotation *RotationSpec `json:"rotation,omitempty"`

	// maxRetryDuration is how long a failing event is retried (exponential
	// backoff with jitter) before the webhook is marked DeliveryFailing. It
	// then waits, dropping nothing, until resumed with the
	// scim.operator.dev/resume annotation.
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="maxRetryDuration must be at least 1m"
	// +optional
	MaxRetryDuration *metav1.Duration `json:"maxRetryDuration,omitempty"`

	// timeout bounds one delivery request; a slower receiver counts as failed.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="timeout must be between 1s and 5m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxBatch > 1 sends up to that many events per request, as a JSON array
	// in order; 1 sends one event per request.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxBatch int32 `json:"maxBatch,omitempty"`
}

// Delivery states the tenant server reports for a webhook.
const (
	DeliveryStateDelivering = "delivering" // events are waiting and being sent
	DeliveryStateIdle       = "idle"       // every event is acknowledged
	DeliveryStateFailing    = "failing"    // retries exhausted; waiting for resume
	DeliveryStatePaused     = "paused"     // spec.paused
	DeliveryStateExpired    = "expired"    // the cursor fell out of the log's retention
)

// WebhookDeliveryError is the last failed delivery attempt. It never holds
// more than a short prefix of the receiver's response.
type WebhookDeliveryError struct {
	// status is the HTTP status code of the response, 0 when none arrived
	// (connection refused, timeout, refused address).
	// +optional
	Status int32 `json:"status,omitempty"`
	// message says what failed, with at most 256 bytes of the response body.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
	// at is when the attempt failed.
	// +optional
	At *metav1.Time `json:"at,omitempty"`
}

// ScimWebhookStatus is the signing secret's timeline (never the secret
// itself: only its SHA-256 and fingerprint) and the delivery progress the
// tenant server reports.
type ScimWebhookStatus struct {
	// revision counts issued signing secrets: 1 after the first, +1 per rotation.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// fingerprint is the first 12 hex characters of the current secret's SHA-256.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`
	// hash is the hex SHA-256 of the current secret, to notice edits of the Secret.
	// +optional
	Hash string `json:"hash,omitempty"`
	// issuedAt is when the current secret was issued.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// nextRotationAt is when the interval rotates the secret next.
	// +optional
	NextRotationAt *metav1.Time `json:"nextRotationAt,omitempty"`
	// previousFingerprint identifies the secret replaced by the last rotation.
	// +optional
	PreviousFingerprint string `json:"previousFingerprint,omitempty"`
	// previousHash is the hex SHA-256 of the previous secret while it still signs.
	// +optional
	PreviousHash string `json:"previousHash,omitempty"`
	// previousValidUntil is the end of the previous secret's grace window:
	// until then every delivery carries a signature with each secret.
	// +optional
	PreviousValidUntil *metav1.Time `json:"previousValidUntil,omitempty"`
	// lastRotateRequest is the last value of the scim.operator.dev/rotate
	// annotation acted upon, so each value rotates exactly once.
	// +optional
	LastRotateRequest string `json:"lastRotateRequest,omitempty"`
	// secretName is the Secret holding the signing secret.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// state is the delivery state the tenant server last reported:
	// delivering, idle, failing, paused or expired.
	// +optional
	State string `json:"state,omitempty"`
	// ackedSeq is the cursor of the last event the receiver acknowledged (or
	// that the event type filter skipped).
	// +optional
	AckedSeq int64 `json:"ackedSeq,omitempty"`
	// lag is how many events wait for delivery (always written, so that the
	// LAG column shows 0 rather than nothing once the receiver caught up).
	// +optional
	Lag int64 `json:"lag"`
	// lastDeliveredAt is when the receiver last acknowledged a delivery.
	// +optional
	LastDeliveredAt *metav1.Time `json:"lastDeliveredAt,omitempty"`
	// lastAttemptAt is when the server last sent a request.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`
	// failingSince is when the current run of failures began.
	// +optional
	FailingSince *metav1.Time `json:"failingSince,omitempty"`
	// lastError is the last failed attempt.
	// +optional
	LastError *WebhookDeliveryError `json:"lastError,omitempty"`
	// statusObservedAt is when the operator read the delivery status shown
	// here from the tenant server. Reports that change nothing are not
	// written, so an older time with StatusReported=True means "unchanged since".
	// +optional
	StatusObservedAt *metav1.Time `json:"statusObservedAt,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready is True while events reach the receiver (reasons
	// Delivering, Paused, DeliveryFailing, CursorExpired, TenantNotFound,
	// SecretConflict); StatusReported is False while the tenant server's
	// delivery status cannot be read (the other fields then show the last
	// status read).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ScimWebhook pushes a ScimTenant's change events (users and groups created,
// updated, deactivated, deleted, members added and removed) to an
// application, in order, signed per the Standard Webhooks specification with
// a secret the operator generates and rotates.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=scimwh,categories=scim
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Last Delivered",type=date,JSONPath=`.status.lastDeliveredAt`
// +kubebuilder:printcolumn:name="Lag",type=integer,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimWebhook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ScimWebhookSpec `json:"spec"`
	// +optional
	Status ScimWebhookStatus `json:"status,omitempty"`
}

// ScimWebhookList is a list of ScimWebhooks.
//
// +kubebuilder:object:root=true
type ScimWebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimWebhook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimWebhook{}, &ScimWebhookList{})
}
