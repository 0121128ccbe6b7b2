// Package schema holds the SCIM attribute definitions the server serves (RFC
// 7643 core User and Group, the enterprise User extension and the tenant's
// custom extensions), resolves attribute paths against them and turns request
// bodies into documents: the canonical map[string]any shape every other
// package of the server works on (see docs/design/scimserver.md).
package schema

// Schema and message URNs of RFC 7643 and RFC 7644.
const (
	// UserURN is the core User schema (RFC 7643 §4.1).
	UserURN = "urn:ietf:params:scim:schemas:core:2.0:User"
	// GroupURN is the core Group schema (RFC 7643 §4.2).
	GroupURN = "urn:ietf:params:scim:schemas:core:2.0:Group"
	// EnterpriseUserURN is the enterprise User extension (RFC 7643 §4.3).
	EnterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// ListResponseURN is the list response message (RFC 7644 §3.4.2).
	ListResponseURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	// PatchOpURN is the PATCH request message (RFC 7644 §3.5.2).
	PatchOpURN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	// ErrorURN is the error response message (RFC 7644 §3.12).
	ErrorURN = "urn:ietf:params:scim:api:messages:2.0:Error"
	// SearchRequestURN is the POST .search request message (RFC 7644 §3.4.3).
	SearchRequestURN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	// ServiceProviderConfigURN is the /ServiceProviderConfig schema (RFC 7643 §5).
	ServiceProviderConfigURN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	// ResourceTypeURN is the /ResourceTypes schema (RFC 7643 §6).
	ResourceTypeURN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	// SchemaURN is the /Schemas schema (RFC 7643 §7).
	SchemaURN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Attribute types (RFC 7643 §2.3).
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeDecimal   = "decimal"
	TypeInteger   = "integer"
	TypeDateTime  = "dateTime"
	TypeReference = "reference"
	TypeComplex   = "complex"
	TypeBinary    = "binary"
)

// Mutability, returned and uniqueness characteristics (RFC 7643 §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"

	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"

	UniqueNone   = "none"
	UniqueServer = "server"
	UniqueGlobal = "global"
)
