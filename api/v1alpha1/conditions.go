package v1alpha1

// Condition types of ScimTenant and ScimToken.
const (
	// ConditionReady: the tenant serves Entra; the token is accepted by its tenant.
	ConditionReady = "Ready"
	// ConditionProgressing: a change of the tenant is rolling out.
	ConditionProgressing = "Progressing"
	// ConditionDegraded: the tenant needs attention; the reason says why.
	ConditionDegraded = "Degraded"
	// ConditionInsecureTenantURL: the tenant's Tenant URL is plain http, which
	// Entra refuses. A condition of its own so that Ready keeps meaning "the
	// server serves" (in-cluster clients and the local run use plain http).
	ConditionInsecureTenantURL = "InsecureTenantURL"
	// ConditionSyncing: Entra (a ScimToken) used the tenant within
	// spec.syncingThreshold.
	ConditionSyncing = "Syncing"
	// ConditionAttributesDropped: the server dropped attributes no served
	// schema defines (True names them and says how to declare them).
	ConditionAttributesDropped = "AttributesDropped"
)

// Reasons of Syncing and AttributesDropped.
const (
	ReasonRecentRequests    = "RecentRequests"    // a token was used within the threshold
	ReasonNoRecentRequests  = "NoRecentRequests"  // no request within the threshold
	ReasonAwaitingReport    = "AwaitingReport"    // the server has not reported yet
	ReasonUnknownAttributes = "UnknownAttributes" // attributes were dropped
	ReasonNoneDropped       = "NoneDropped"       // nothing was dropped
)

// Condition reasons. Each names what a user can act on.
const (
	ReasonAvailable             = "Available"             // the server is available
	ReasonDeploymentUnavailable = "DeploymentUnavailable" // no ready replica yet
	ReasonRollingOut            = "RollingOut"            // a new configuration is rolling out
	ReasonRolledOut             = "RolledOut"             // the current configuration runs everywhere
	ReasonVolumePending         = "VolumePending"         // the sqlite PersistentVolumeClaim is not bound
	ReasonIngressPending        = "IngressPending"        // the Ingress has no address yet
	ReasonNoToken               = "NoToken"               // no ScimToken is accepted by the tenant
	ReasonAsExpected            = "AsExpected"            // nothing needs attention
	ReasonApplyFailed           = "ApplyFailed"           // an owned object could not be written
	ReasonInvalidSpec           = "InvalidSpec"           // the spec passed admission but cannot be served
	ReasonScaledToZero          = "ScaledToZero"          // spec.replicas is 0
	ReasonURLConflict           = "URLConflict"           // an older tenant serves an overlapping host and path
	ReasonURLNotAllowed         = "URLNotAllowed"         // spec.ingress.path is outside what the operator's path policy allows
	ReasonImageNotAllowed       = "ImageNotAllowed"       // the image is outside the operator's allowed repositories
	ReasonNoTLS                 = "NoTLS"                 // spec.ingress has no tls: the Tenant URL is http://
	ReasonNoIngress             = "NoIngress"             // no spec.ingress: the Tenant URL is the in-cluster Service
	ReasonTLS                   = "TLS"                   // the Tenant URL is https

	ReasonIssued         = "Issued"         // the token is issued and accepted
	ReasonTenantNotFound = "TenantNotFound" // the referenced ScimTenant does not exist
	ReasonRevoked        = "Revoked"        // spec.revoked is true
	ReasonExpired        = "Expired"        // the token passed expiresAfter
	ReasonSecretConflict = "SecretConflict" // secretName is taken by a Secret the operator does not own
)

// Condition types and reasons of ScimWebhook.
const (
	// ConditionStatusReported: the operator could read the webhook's delivery
	// status from the tenant server at its last attempt.
	ConditionStatusReported = "StatusReported"

	ReasonDelivering        = "Delivering"        // events reach the receiver (or none are waiting)
	ReasonPaused            = "Paused"            // spec.paused is true
	ReasonDeliveryFailing   = "DeliveryFailing"   // retries exhausted; waiting for the resume annotation
	ReasonCursorExpired     = "CursorExpired"     // events the receiver missed were pruned; it must resync
	ReasonAwaitingServer    = "AwaitingServer"    // the secret is issued; the server has not reported the webhook yet
	ReasonReported          = "Reported"          // the server answered the status request
	ReasonServerUnreachable = "ServerUnreachable" // the status request failed; status shows the last answer
)
