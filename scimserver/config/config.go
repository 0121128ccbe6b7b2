// Package config is the tenant configuration file of the SCIM server: the
// contract between the operator, which renders it from a ScimTenant into a
// ConfigMap, and cmd/scimserver, which reads it at start-up.
//
// The file is JSON (tenant.json in the mounted ConfigMap). Every field has a
// default so that a server started without a file serves users and groups at
// /scim/v2 with no extensions and no rate limit.
package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// FileName is the key of the tenant configuration in its ConfigMap.
const FileName = "tenant.json"

// DefaultBasePath is where the SCIM API is served when no base path or
// external URL says otherwise.
const DefaultBasePath = "/scim/v2"

// Tenant configures one SCIM service.
type Tenant struct {
	// ExternalURL is the Tenant URL the admin pastes into Entra, for example
	// https://scim.example.com/acme/scim/v2. It is used for meta.location and
	// $ref values. Empty means "derive from the request's Host".
	ExternalURL string `json:"externalURL,omitempty"`
	// BasePath is the path prefix the SCIM API is served under, for example
	// /acme/scim/v2. Empty means the path of ExternalURL, or DefaultBasePath.
	BasePath string `json:"basePath,omitempty"`
	// Groups switches the /Groups resource type on. Some apps provision users
	// only; with Groups false /Groups answers filters with an empty list (Entra's
	// Test Connection probes it) and refuses writes.
	Groups bool `json:"groups"`
	// RequiredUserAttributes are attribute paths (name.givenName,
	// emails[type eq "work"].value, urn:...:User:department) that a create or
	// replace of a user must carry.
	RequiredUserAttributes []string `json:"requiredUserAttributes,omitempty"`
	// Extensions are custom user schema extensions served in /Schemas.
	Extensions []Extension `json:"extensions,omitempty"`
	// RateLimit limits requests per second for the tenant; nil means unlimited.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// UnknownAttributes says what happens to an attribute no served schema
	// defines: UnknownIgnore (the default, also when empty) drops it and
	// makes it visible (metric, log, GET /v1/status); UnknownReject answers
	// 400 invalidValue naming it.
	UnknownAttributes string `json:"unknownAttributes,omitempty"`

	// Events configures the change log (GET /v1/events, webhooks).
	Events Events `json:"events,omitzero"`
	// Activity bounds the in-memory request history (GET /v1/activity).
	Activity Activity `json:"activity,omitzero"`
}

// Activity bounds the redacted request history each server keeps in memory:
// at most MaxEntries requests, none older than Retention.
type Activity struct {
	// MaxEntries is the number of requests kept; zero means
	// DefaultActivityEntries.
	MaxEntries int `json:"maxEntries,omitempty"`
	// Retention drops older entries from answers; zero means
	// DefaultActivityRetention.
	Retention Duration `json:"retention,omitzero"`
}

// Activity history defaults and bounds: 1000 entries are about 300 KB and
// cover an Entra cycle of a mid-sized tenant; 24h covers the last sync
// cycles an on-call engineer looks at.
const (
	DefaultActivityEntries   = 1000
	MaxActivityEntries       = 100000
	DefaultActivityRetention = 24 * time.Hour
)

// ActivityEntries is the effective size of the request history.
func (t *Tenant) ActivityEntries() int {
	if t.Activity.MaxEntries > 0 {
		return min(t.Activity.MaxEntries, MaxActivityEntries)
	}
	return DefaultActivityEntries
}

// ActivityRetention is the effective age bound of the request history.
func (t *Tenant) ActivityRetention() time.Duration {
	if t.Activity.Retention > 0 {
		return time.Duration(t.Activity.Retention)
	}
	return DefaultActivityRetention
}

// DefaultEventRetention is how long the change log keeps events when the
// tenant does not say: 30 days.
const DefaultEventRetention = 30 * 24 * time.Hour

// MinEventRetention is the shortest retention accepted: a consumer down for
// less than that must not have to resync.
const MinEventRetention = time.Hour

// Events configures the change log.
type Events struct {
	// Retention is how long events are kept; a reader whose cursor is older
	// must resync. Zero means DefaultEventRetention.
	Retention Duration `json:"retention,omitzero"`
}

// EventRetention is the effective retention of the change log.
func (t *Tenant) EventRetention() time.Duration {
	if t.Events.Retention > 0 {
		return time.Duration(t.Events.Retention)
	}
	return DefaultEventRetention
}

// Duration is a time.Duration written as a Go duration string ("720h",
// also what metav1.Duration renders: "720h0m0s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"720h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Values of Tenant.UnknownAttributes.
const (
	UnknownIgnore = "Ignore"
	UnknownReject = "Reject"
)

// RejectsUnknown reports whether the tenant answers 400 to attributes no
// served schema defines.
func (t *Tenant) RejectsUnknown() bool { return t.UnknownAttributes == UnknownReject }

// Extension is a custom schema extension of the User resource.
type Extension struct {
	// URN is the schema id, e.g. urn:ietf:params:scim:schemas:extension:acme:2.0:User.
	URN         string      `json:"urn"`
	Name        string      `json:"name,omitempty"`
	Description string      `json:"description,omitempty"`
	Required    bool        `json:"required,omitempty"`
	Attributes  []Attribute `json:"attributes"`
}

// Attribute types a custom extension attribute may have (RFC 7643 §2.3).
const (
	TypeString    = "string"
	TypeBoolean   = "boolean"
	TypeInteger   = "integer"
	TypeDecimal   = "decimal"
	TypeDateTime  = "dateTime"
	TypeReference = "reference"
)

// Attribute is one attribute of a custom extension.
type Attribute struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	MultiValued bool   `json:"multiValued,omitempty"`
	CaseExact   bool   `json:"caseExact,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Description string `json:"description,omitempty"`
}

// RateLimit is a token bucket: RequestsPerSecond sustained, Burst at once.
type RateLimit struct {
	RequestsPerSecond int32 `json:"requestsPerSecond"`
	Burst             int32 `json:"burst,omitempty"`
}

// Default is the configuration of a server started without a file.
func Default() *Tenant { return &Tenant{Groups: true} }

// Load reads and validates a tenant file. A missing path yields Default().
func Load(path string) (*Tenant, error) {
	if path == "" {
		return Default(), nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tenant config: %w", err)
	}
	return Parse(raw)
}

// Parse decodes and validates a tenant file's contents.
func Parse(raw []byte) (*Tenant, error) {
	t := Default()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("decoding tenant config: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

var (
	urnPattern      = regexp.MustCompile(`^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.:=@;$_!*'%/?#]+$`)
	attrNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// Validate reports the first problem that would make the server misbehave.
func (t *Tenant) Validate() error {
	if t.ExternalURL != "" {
		u, err := url.Parse(t.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("externalURL %q must be an absolute http(s) URL", t.ExternalURL)
		}
	}
	if t.BasePath != "" && !strings.HasPrefix(t.BasePath, "/") {
		return fmt.Errorf("basePath %q must start with /", t.BasePath)
	}
	seen := map[string]bool{}
	for _, ext := range t.Extensions {
		if !urnPattern.MatchString(ext.URN) {
			return fmt.Errorf("extension urn %q is not a URN", ext.URN)
		}
		if seen[strings.ToLower(ext.URN)] {
			return fmt.Errorf("extension urn %q is declared twice", ext.URN)
		}
		seen[strings.ToLower(ext.URN)] = true
		names := map[string]bool{}
		for _, a := range ext.Attributes {
			if !attrNamePattern.MatchString(a.Name) {
				return fmt.Errorf("extension %s: attribute name %q is not a SCIM attribute name", ext.URN, a.Name)
			}
			if names[strings.ToLower(a.Name)] {
				return fmt.Errorf("extension %s: attribute %q is declared twice", ext.URN, a.Name)
			}
			names[strings.ToLower(a.Name)] = true
			switch a.Type {
			case TypeString, TypeBoolean, TypeInteger, TypeDecimal, TypeDateTime, TypeReference:
			default:
				return fmt.Errorf("extension %s: attribute %q has unknown type %q", ext.URN, a.Name, a.Type)
			}
		}
	}
	switch t.UnknownAttributes {
	case "", UnknownIgnore, UnknownReject:
	default:
		return fmt.Errorf("unknownAttributes %q must be %q or %q", t.UnknownAttributes, UnknownIgnore, UnknownReject)
	}
	if r := t.RateLimit; r != nil && r.RequestsPerSecond <= 0 {
		return fmt.Errorf("rateLimit.requestsPerSecond must be positive")
	}
	if r := time.Duration(t.Events.Retention); r != 0 && r < MinEventRetention {
		return fmt.Errorf("events.retention %s is too short: keep events at least %s (default %s)", r, MinEventRetention, DefaultEventRetention)
	}
	if n := t.Activity.MaxEntries; n < 0 || n > MaxActivityEntries {
		return fmt.Errorf("activity.maxEntries %d is out of range: keep 1 to %d requests (default %d)", n, MaxActivityEntries, DefaultActivityEntries)
	}
	if t.Activity.Retention < 0 {
		return fmt.Errorf("activity.retention must not be negative (default %s)", DefaultActivityRetention)
	}
	return nil
}

// ServedBasePath is the path prefix the API is served under.
func (t *Tenant) ServedBasePath() string {
	p := t.BasePath
	if p == "" && t.ExternalURL != "" {
		if u, err := url.Parse(t.ExternalURL); err == nil {
			p = u.Path
		}
	}
	if p == "" {
		p = DefaultBasePath
	}
	return strings.TrimRight(p, "/")
}
