package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceType is a SCIM resource type a tenant serves.
// +kubebuilder:validation:Enum=User;Group
type ResourceType string

// SCIM resource types.
const (
	ResourceTypeUser  ResourceType = "User"
	ResourceTypeGroup ResourceType = "Group"
)

// ScimTenantSpec declares one SCIM 2.0 service for Microsoft Entra ID provisioning.
// +kubebuilder:validation:XValidation:rule="!has(self.replicas) || self.replicas <= 1 || (has(self.storage) && has(self.storage.postgres))",message="replicas greater than 1 need storage.postgres: the sqlite database is a single file on one volume and has one writer; set replicas: 1 or use storage.postgres",fieldPath=".replicas"
type ScimTenantSpec struct {
	// resourceTypes lists the SCIM resources the tenant serves. User is always
	// served; leave Group out for apps that are provisioned with users only.
	// /Groups then still answers Entra's Test Connection probe with an empty list.
	// +kubebuilder:default={User,Group}
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:XValidation:rule="self.exists(t, t == 'User')",message="resourceTypes must include User: every SCIM tenant serves users; remove Group to provision users only"
	// +optional
	ResourceTypes []ResourceType `json:"resourceTypes,omitempty"`

	// ingress publishes the tenant outside the cluster, which Entra needs: its
	// provisioning service calls the Tenant URL from the internet. Without it the
	// tenant is reachable in-cluster only.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// storage is where the provisioned directory is kept: an embedded sqlite
	// database on a PersistentVolumeClaim (the default) or an external PostgreSQL.
	// +kubebuilder:default={sqlite:{}}
	// +kubebuilder:validation:XValidation:rule="has(self.sqlite) == has(oldSelf.sqlite)",message="storage type cannot change: switching between sqlite and postgres would leave the provisioned directory behind; create a new ScimTenant instead"
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// replicas of the SCIM server. More than 1 requires storage.postgres.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// image overrides the SCIM server image. Defaults to the operator's own
	// release image, which carries the matching server binary.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// resources of the SCIM server container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// podTemplate carries the scheduling and metadata settings of the server's pods.
	// +optional
	PodTemplate *PodTemplateOverrides `json:"podTemplate,omitempty"`

	// schema customises the User resource: attributes every user must carry and
	// custom extension schemas.
	// +optional
	Schema *SchemaSpec `json:"schema,omitempty"`

	// rateLimit caps requests per second to the tenant; beyond it the server
	// answers 429 with Retry-After, which Entra honours. Entra's gallery apps must
	// handle at least 25 requests per second, so stay above that.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`

	// networkPolicy gives the server a NetworkPolicy: its SCIM port admits only
	// the ingress controller's namespace, the listed namespaces and the
	// operator's own; its metrics port only the monitoring namespaces. Absent,
	// the operator creates none (so upgrading it never cuts Entra off); set
	// networkPolicy: {} for the defaults.
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// events configures the tenant's change log: the ordered record of every
	// change to its users and groups, read by applications from the change feed
	// (GET /v1/events on the tenant's Service) and pushed by ScimWebhooks.
	// +optional
	Events *EventsSpec `json:"events,omitempty"`

	// syncingThreshold is how long the tenant may go without a request from
	// Entra before the Syncing condition turns False (reason
	// NoRecentRequests). Entra runs an incremental cycle every 40 minutes;
	// the default of 80m is two cycles.
	// +kubebuilder:default="80m"
	// +optional
	SyncingThreshold *metav1.Duration `json:"syncingThreshold,omitempty"`

	// activity bounds the redacted request history each server keeps in
	// memory, readable at GET /v1/activity with a ScimToken of scope activity.
	// +optional
	Activity *ActivitySpec `json:"activity,omitempty"`
}

// ActivitySpec bounds a tenant's request history.
type ActivitySpec struct {
	// maxEntries is how many requests each server replica keeps (default 1000).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	MaxEntries *int32 `json:"maxEntries,omitempty"`
	// retention is how long a request is kept (default 24h).
	// +optional
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// NetworkPolicySpec says who may reach the tenant's server.
type NetworkPolicySpec struct {
	// enabled creates the NetworkPolicy; false deletes it.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// ingressControllerNamespace is the namespace of the ingress controller's
	// pods, which forward Entra's requests to the SCIM port.
	// +kubebuilder:default=ingress-nginx
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="ingressControllerNamespace must be a namespace name (lowercase letters, digits and '-')"
	// +optional
	IngressControllerNamespace string `json:"ingressControllerNamespace,omitempty"`

	// ingressNamespaces are further namespaces whose pods may call the SCIM
	// port, for example an app that reads the directory with a read token.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="ingressNamespaces must be namespace names (lowercase letters, digits and '-')"
	// +listType=set
	// +optional
	IngressNamespaces []string `json:"ingressNamespaces,omitempty"`

	// monitoringNamespaceSelector selects the namespaces whose pods may scrape
	// the metrics port. Defaults to the namespace named monitoring; an empty
	// selector ({}) matches every namespace.
	// +optional
	MonitoringNamespaceSelector *metav1.LabelSelector `json:"monitoringNamespaceSelector,omitempty"`
}

// EventsSpec configures the change log of a tenant.
type EventsSpec struct {
	// retention is how long events are kept. A feed reader or webhook whose
	// cursor falls behind it must resync from a snapshot (docs/events.md).
	// At least 1h; defaults to 720h (30 days).
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="events.retention must be at least 1h (e.g. 720h for 30 days): a consumer down for less must not have to resync"
	// +optional
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// IngressSpec publishes the tenant at https://<host><path>/scim/v2.
type IngressSpec struct {
	// host is the DNS name Entra calls, for example scim.example.com.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="host must be a lowercase DNS name such as scim.example.com, without scheme, port, path or wildcard"
	Host string `json:"host"`

	// path is the URL path prefix of the tenant on host; the SCIM API is served
	// under <path>/scim/v2. Defaults to /<namespace>/<name>, so tenants can share a host.
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="path must start with /, for example /acme"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="path must not end with /: the tenant URL appends /scim/v2 to it"
	// The segment rule skips what the two rules above already report, so each
	// mistake gets one message.
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.startsWith('/') || self.endsWith('/') || self.matches('^(/[A-Za-z0-9._~-]+)+$')",message="path segments may contain only letters, digits, '.', '_', '~' and '-'"
	// +optional
	Path string `json:"path,omitempty"`

	// ingressClassName selects the ingress controller. Empty uses the cluster's default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	IngressClassName *string `json:"ingressClassName,omitempty"`

	// tls terminates HTTPS at the ingress. Entra requires TLS 1.2 with a
	// certificate from a public CA: name a Secret that cert-manager (or you)
	// fills, and add the issuer annotation under annotations.
	// +optional
	TLS *IngressTLS `json:"tls,omitempty"`

	// annotations are added to the Ingress, for example
	// cert-manager.io/cluster-issuer or ingress controller settings.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IngressTLS names the certificate Secret of the Ingress.
type IngressTLS struct {
	// secretName is the kubernetes.io/tls Secret holding the certificate for host.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="tls.secretName must be a valid Secret name (lowercase letters, digits, '-' and '.')"
	SecretName string `json:"secretName"`
}

// SQLite is the tenant's sqlite storage, nil when it uses postgres. A tenant
// without spec.storage (only possible for objects that skipped defaulting)
// uses sqlite with the defaults.
func (s *ScimTenantSpec) SQLite() *SQLiteStorage {
	if s.Storage == nil {
		return &SQLiteStorage{DeletionPolicy: DeletionPolicyRetain}
	}
	return s.Storage.SQLite
}

// Postgres is the tenant's postgres storage, nil when it uses sqlite.
func (s *ScimTenantSpec) Postgres() *PostgresStorage {
	if s.Storage == nil {
		return nil
	}
	return s.Storage.Postgres
}

// StorageSpec selects exactly one storage backend.
// +kubebuilder:validation:XValidation:rule="!(has(self.sqlite) && has(self.postgres))",message="storage: set either sqlite or postgres, not both"
// +kubebuilder:validation:XValidation:rule="has(self.sqlite) || has(self.postgres)",message="storage: set sqlite or postgres"
type StorageSpec struct {
	// sqlite keeps the directory in an embedded database file on a PersistentVolumeClaim.
	// +optional
	SQLite *SQLiteStorage `json:"sqlite,omitempty"`

	// postgres keeps the directory in an external PostgreSQL database.
	// +optional
	Postgres *PostgresStorage `json:"postgres,omitempty"`
}

// DeletionPolicy says what happens to a tenant's volume when the tenant is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

// Deletion policies.
const (
	DeletionPolicyRetain DeletionPolicy = "Retain"
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// SQLiteStorage is the embedded database's volume.
type SQLiteStorage struct {
	// size of the PersistentVolumeClaim. 1Gi holds well over a million users.
	// +kubebuilder:default="1Gi"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// storageClassName of the PersistentVolumeClaim. Empty uses the cluster's default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// deletionPolicy: Retain (default) keeps the PersistentVolumeClaim, and the
	// provisioned directory in it, when the ScimTenant is deleted; a tenant
	// created again with the same name picks it up. Delete removes it with the tenant.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// PostgresStorage points at an external PostgreSQL database.
type PostgresStorage struct {
	// urlSecretRef names the Secret key holding the connection URL
	// (postgres://user:password@host:5432/db?sslmode=require). The operator
	// references it from the pod and never copies it.
	URLSecretRef SecretKeyRef `json:"urlSecretRef"`
	// schema is the PostgreSQL schema holding this tenant's tables, created
	// by the server if missing, so several tenants can share one database.
	// Default: derived from the namespace and tenant name
	// (scim_<namespace>_<name>_<hash>). Changing it points the tenant at
	// another, possibly empty, directory.
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Schema string `json:"schema,omitempty"`
}

// SecretKeyRef names a key of a Secret in the tenant's namespace.
type SecretKeyRef struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key in the Secret.
	// +kubebuilder:default=url
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// PodTemplateOverrides are the pod settings a platform team usually needs.
type PodTemplateOverrides struct {
	// labels added to the server's pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations added to the server's pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// nodeSelector of the server's pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// tolerations of the server's pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// SchemaSpec customises the User resource of the tenant.
type SchemaSpec struct {
	// requiredUserAttributes are SCIM attribute paths every user must carry, for
	// example name.givenName, emails[type eq "work"].value or
	// urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department.
	// A create or replace without them is refused with 400 naming the missing ones.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.all(p, p.matches('^(urn:[^ ]+:)?[A-Za-z][A-Za-z0-9_$-]*([.[].*)?$'))",message="requiredUserAttributes entries must be SCIM attribute paths such as name.givenName, emails[type eq \"work\"].value or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
	// +listType=set
	// +optional
	RequiredUserAttributes []string `json:"requiredUserAttributes,omitempty"`

	// extensions are custom schema extensions of the User resource, published in
	// /Schemas, validated on write and usable in filters. Entra sends their
	// attributes as urn:...:User:<attribute>.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=urn
	// +optional
	Extensions []SchemaExtension `json:"extensions,omitempty"`

	// unknownAttributes says what the server does with an attribute a client
	// sends that no served schema defines (a core name such as shoeSize, an
	// unknown sub-attribute, or an attribute of an undeclared extension).
	// Ignore (the default) drops it, as Microsoft's tests expect, and makes it
	// visible: the metric scim_unknown_attributes_total, one log line per name,
	// and the server's status document (GET /v1/status). Reject answers
	// 400 invalidValue naming the attribute and how to declare it in
	// extensions. A bare name of a declared extension's attribute (costCenter
	// of the enterprise extension) is never unknown.
	// +kubebuilder:default=Ignore
	// +optional
	UnknownAttributes UnknownAttributesPolicy `json:"unknownAttributes,omitempty"`
}

// UnknownAttributesPolicy is what happens to attributes no served schema
// defines.
// +kubebuilder:validation:Enum=Ignore;Reject
type UnknownAttributesPolicy string

// Values of SchemaSpec.UnknownAttributes.
const (
	UnknownAttributesIgnore UnknownAttributesPolicy = "Ignore"
	UnknownAttributesReject UnknownAttributesPolicy = "Reject"
)

// SchemaExtension is a custom User schema extension.
type SchemaExtension struct {
	// urn is the schema id, for example urn:ietf:params:scim:schemas:extension:acme:2.0:User.
	// +kubebuilder:validation:MinLength=5
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[^ ]+$')",message="urn must be a URN such as urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	// +kubebuilder:validation:XValidation:rule="!(self.lowerAscii() in ['urn:ietf:params:scim:schemas:core:2.0:user', 'urn:ietf:params:scim:schemas:core:2.0:group', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:user'])",message="urn must not be a core or enterprise schema: those are built in"
	URN string `json:"urn"`

	// name of the schema, shown in /Schemas.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Name string `json:"name,omitempty"`

	// description of the schema, shown in /Schemas.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`

	// attributes of the extension.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, b.name.lowerAscii() == a.name.lowerAscii()))",message="attribute names must be unique ignoring case: SCIM attribute names are case-insensitive"
	Attributes []ExtensionAttribute `json:"attributes"`
}

// AttributeType is the SCIM data type of a custom attribute.
// +kubebuilder:validation:Enum=string;boolean;integer;decimal;dateTime;reference
type AttributeType string

// ExtensionAttribute is one attribute of a custom extension.
type ExtensionAttribute struct {
	// name of the attribute, for example costCenterCode.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_-]*$')",message="attribute name must start with a letter and contain only letters, digits, '_' and '-'"
	Name string `json:"name"`
	// type of the attribute's values.
	// +kubebuilder:default=string
	// +optional
	Type AttributeType `json:"type,omitempty"`
	// multiValued attributes hold a list of values.
	// +optional
	MultiValued bool `json:"multiValued,omitempty"`
	// caseExact makes filters compare the attribute's values case-sensitively.
	// +optional
	CaseExact bool `json:"caseExact,omitempty"`
	// required attributes must be present on every user that carries the extension.
	// +optional
	Required bool `json:"required,omitempty"`
	// description shown in /Schemas.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`
}

// RateLimitSpec is a token bucket per tenant.
// +kubebuilder:validation:XValidation:rule="!has(self.burst) || self.burst >= self.requestsPerSecond",message="rateLimit.burst must be at least requestsPerSecond"
type RateLimitSpec struct {
	// requestsPerSecond sustained.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	RequestsPerSecond int32 `json:"requestsPerSecond"`
	// burst of requests allowed at once. Defaults to twice requestsPerSecond.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	Burst *int32 `json:"burst,omitempty"`
}

// ScimTenantStatus is the observed state of a tenant.
type ScimTenantStatus struct {
	// tenantURL is the exact value to paste into the Tenant URL field of Entra's
	// provisioning settings.
	// +optional
	TenantURL string `json:"tenantURL,omitempty"`
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (Entra can provision), Progressing (a change is rolling
	// out), Degraded (something needs attention; the reason says what).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// readyReplicas of the server.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// activeTokens is how many tokens the server currently accepts, previous
	// tokens inside their grace window included. It is 0, never absent, when
	// none is accepted, so scripts can test for 0.
	// +kubebuilder:default=0
	// +optional
	ActiveTokens int32 `json:"activeTokens"`
	// storage says where the server keeps the directory: "sqlite", or
	// "postgres" with the schema ("postgres schema scim_team_a_acme_1a2b3c4d").
	// Its health shows in readyReplicas and Ready: a server whose database
	// does not answer is not ready.
	// +optional
	Storage string `json:"storage,omitempty"`

	// users held by the tenant, as last reported by its server.
	// +optional
	Users *UserCounts `json:"users,omitempty"`
	// groups held by the tenant, as last reported by its server.
	// +optional
	Groups *int64 `json:"groups,omitempty"`
	// lastRequestTime is when a ScimToken (Entra's) was last used.
	// +optional
	LastRequestTime *metav1.Time `json:"lastRequestTime,omitempty"`
	// lastWriteTime is when a request last changed a user or group.
	// +optional
	LastWriteTime *metav1.Time `json:"lastWriteTime,omitempty"`
	// lastClientError is the last 4xx answer the server gave (never a request
	// body or a token; quoted values in the detail are redacted).
	// +optional
	LastClientError *ClientError `json:"lastClientError,omitempty"`
	// statusReportedTime is when a report of the server last changed this
	// status (unchanged reports are not written).
	// +optional
	StatusReportedTime *metav1.Time `json:"statusReportedTime,omitempty"`
}

// UserCounts splits a tenant's users by their active attribute.
type UserCounts struct {
	Total    int64 `json:"total"`
	Active   int64 `json:"active"`
	Inactive int64 `json:"inactive"`
}

// ClientError is a 4xx answer of the tenant's server.
type ClientError struct {
	Status int32 `json:"status"`
	// +optional
	ScimType string `json:"scimType,omitempty"`
	// +optional
	Detail string      `json:"detail,omitempty"`
	Time   metav1.Time `json:"time"`
}

// ScimTenant is one SCIM 2.0 service that Microsoft Entra ID provisions users
// (and optionally groups) into. Its status shows the Tenant URL to paste into Entra.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=scimt,categories=scim
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 45",message="ScimTenant names are at most 45 characters: they prefix the names of the tenant's Service and Deployment"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="ScimTenant names must start with a letter and contain only lowercase letters, digits and '-': they name the tenant's Service"
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.tenantURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tokens",type=integer,JSONPath=`.status.activeTokens`
// +kubebuilder:printcolumn:name="Storage",type=string,JSONPath=`.status.storage`,priority=1
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users.total`
// +kubebuilder:printcolumn:name="Groups",type=integer,JSONPath=`.status.groups`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastRequestTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ScimTenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec ScimTenantSpec `json:"spec,omitempty"`
	// +optional
	Status ScimTenantStatus `json:"status,omitempty"`
}

// ScimTenantList is a list of ScimTenants.
//
// +kubebuilder:object:root=true
type ScimTenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ScimTenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ScimTenant{}, &ScimTenantList{})
}
