package deliverystatus

import "time"

// StatusPath is where a tenant server reports its own status.
const StatusPath = "/v1/status"

// TenantStatus is the body of GET /v1/status (docs/scimserver.md). The
// request-derived fields are the answering replica's memory since
// StartedAt: the operator keeps the newest times it has seen.
type TenantStatus struct {
	UnknownAttributes  string        `json:"unknownAttributes"`
	DroppedAttributes  []UnknownAttr `json:"droppedAttributes"`
	RejectedAttributes []UnknownAttr `json:"rejectedAttributes"`
	// Users and Groups are absent when the server could not count them.
	Users  *UserCounts `json:"users,omitempty"`
	Groups *int64      `json:"groups,omitempty"`

	StartedAt       time.Time    `json:"startedAt"`
	Tokens          []TokenUse   `json:"tokens"`
	LastRequest     *time.Time   `json:"lastRequest,omitempty"`
	LastWrite       *time.Time   `json:"lastWrite,omitempty"`
	LastClientError *ClientError `json:"lastClientError,omitempty"`
	ClientErrors    ErrorWindow  `json:"clientErrors"`
}

// UnknownAttr is an attribute no served schema defines.
type UnknownAttr struct {
	Name         string    `json:"name"`
	ResourceType string    `json:"resourceType"`
	Count        int64     `json:"count"`
	LastSeen     time.Time `json:"lastSeen"`
}

// UserCounts splits the users by their active attribute.
type UserCounts struct {
	Active   int64 `json:"active"`
	Inactive int64 `json:"inactive"`
}

// TokenUse is when one token of the token file (name and revision) was
// last used.
type TokenUse struct {
	Name        string    `json:"name"`
	Revision    int64     `json:"revision"`
	Fingerprint string    `json:"fingerprint"`
	LastRequest time.Time `json:"lastRequest"`
}

// ClientError is the last 4xx answer (quoted values redacted).
type ClientError struct {
	Status   int       `json:"status"`
	ScimType string    `json:"scimType,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

// ErrorWindow counts requests and client errors of the last WindowSeconds.
type ErrorWindow struct {
	WindowSeconds int   `json:"windowSeconds"`
	Requests      int64 `json:"requests"`
	Errors        int64 `json:"errors"`
}

// LastUse returns when the token name at revision was last used, nil if
// the server has not seen it.
func (s *TenantStatus) LastUse(name string, revision int64) *time.Time {
	for i := range s.Tokens {
		if s.Tokens[i].Name == name && s.Tokens[i].Revision == revision {
			return &s.Tokens[i].LastRequest
		}
	}
	return nil
}
