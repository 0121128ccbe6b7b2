package deliverystatus

import "github.com/scim-operator/scim-operator/scimserver/statusdoc"

// StatusPath is where a tenant server reports its own status.
const StatusPath = statusdoc.StatusPath

// The status document is the server's (package statusdoc); these are the
// names the operator uses for it.
type (
	// TenantStatus is the body of GET /v1/status.
	TenantStatus = statusdoc.Tenant
	// UnknownAttr is an attribute no served schema defines.
	UnknownAttr = statusdoc.UnknownAttr
	// TokenUse is when one token of the token file was last used.
	TokenUse = statusdoc.TokenUse
)
