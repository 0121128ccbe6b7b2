// Package statusdoc declares the JSON documents a tenant server reports
// about itself outside its SCIM base path, GET /v1/status and
// GET /v1/webhooks, and the pages of GET /v1/activity (docs/scimserver.md). The server encodes them and the
// operator's poller decodes them, so both sides share these types; the
// package imports nothing but the standard library so that the operator
// does not link the server (SQLite) or the webhook delivery to read them.
package statusdoc

import "time"

// Paths of the documents, outside the SCIM base path.
const (
	StatusPath   = "/v1/status"
	WebhooksPath = "/v1/webhooks"
	ActivityPath = "/v1/activity"
)

// ActivityEntry is one request of the activity log: never a request body or
// a token, only the sending ScimToken's name, revision and fingerprint.
type ActivityEntry struct {
	Time             time.Time `json:"time"`
	Method           string    `json:"method"`
	Path             string    `json:"path"`
	Status           int       `json:"status"`
	ScimType         string    `json:"scimType,omitempty"`
	Detail           string    `json:"detail,omitempty"`
	Token            string    `json:"token,omitempty"`
	TokenRevision    int64     `json:"tokenRevision,omitempty"`
	TokenFingerprint string    `json:"tokenFingerprint,omitempty"`
	DurationMs       float64   `json:"durationMs"`
}

// ActivityPage is the body of GET /v1/activity.
type ActivityPage struct {
	Entries []ActivityEntry `json:"entries"`
	// Next is the cursor to pass as since to read on.
	Next string `json:"next"`
}

// Tenant is the body of GET /v1/status. The request-derived fields (from
// Tokens on) are the answering replica's memory since StartedAt: the
// operator keeps the newest times it has seen.
type Tenant struct {
	// UnknownAttributes is the tenant's mode: Ignore or Reject.
	UnknownAttributes string `json:"unknownAttributes"`
	// DroppedAttributes were dropped from writes that succeeded.
	DroppedAttributes []UnknownAttr `json:"droppedAttributes"`
	// RejectedAttributes made a write fail with 400 (Reject mode).
	RejectedAttributes []UnknownAttr `json:"rejectedAttributes"`
	// Users and Groups held by the tenant; absent when the store could
	// not count them.
	Users  *UserCounts `json:"users,omitempty"`
	Groups *int64      `json:"groups,omitempty"`
	// InactiveCountedAt is when the inactive users were counted (the
	// totals are current).
	InactiveCountedAt *time.Time `json:"inactiveCountedAt,omitempty"`
	// StartedAt is when this server process started: everything below is
	// in memory and starts empty.
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

// UserCounts splits the users by their active attribute (a user without
// one counts as active, as Entra creates them).
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

// ErrorWindow counts the requests and client errors (4xx) of the last
// WindowSeconds.
type ErrorWindow struct {
	WindowSeconds int   `json:"windowSeconds"`
	Requests      int64 `json:"requests"`
	Errors        int64 `json:"errors"`
}

// LastUse returns when the token name at revision was last used, nil if
// the server has not seen it.
func (s *Tenant) LastUse(name string, revision int64) *time.Time {
	for i := range s.Tokens {
		if s.Tokens[i].Name == name && s.Tokens[i].Revision == revision {
			return &s.Tokens[i].LastRequest
		}
	}
	return nil
}

// Webhooks is the delivery status of a tenant's webhooks: the body of
// GET /v1/webhooks, which the operator polls into ScimWebhook status.
type Webhooks struct {
	// Head is the cursor of the newest event in the tenant's change log.
	Head     int64     `json:"head"`
	Webhooks []Webhook `json:"webhooks"`
}

// Webhook is one webhook's delivery state.
type Webhook struct {
	Name string `json:"name"`
	// State is delivering, idle, failing, paused, expired, or standby.
	// Every replica reports the lease holder's state and times (stored by
	// the holder; Acked is from the store); standby means another replica
	// holds the lease and has stored no status yet.
	State string `json:"state"`
	// Acked is the cursor of the last event the receiver acknowledged (or
	// that was filtered out); Lag the events after it.
	Acked           int64      `json:"acked"`
	Lag             int64      `json:"lag"`
	LastDeliveredAt *time.Time `json:"lastDeliveredAt,omitempty"`
	LastAttemptAt   *time.Time `json:"lastAttemptAt,omitempty"`
	FailingSince    *time.Time `json:"failingSince,omitempty"`
	LastError       *LastError `json:"lastError,omitempty"`
}

// LastError is the last failed attempt. Message is at most 256 bytes of the
// receiver's response body, or what went wrong when no response came.
type LastError struct {
	Status  int       `json:"status"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// Find returns the named webhook's entry, nil when the server does not
// report it (it has not loaded the webhook yet).
func (r *Webhooks) Find(name string) *Webhook {
	for i := range r.Webhooks {
		if r.Webhooks[i].Name == name {
			return &r.Webhooks[i]
		}
	}
	return nil
}
