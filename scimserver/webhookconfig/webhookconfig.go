// Package webhookconfig is the webhook configuration file of the SCIM server:
// the contract between the operator, which renders it from a tenant's
// ScimWebhooks into the Secret <tenant>-scim-webhooks, and package delivery,
// which reads it (mounted at /etc/scim/webhooks, flag --webhooks-file).
//
// The file holds signing secrets in plaintext (a receiver verifies HMACs with
// the same secret), which is why it travels in a Secret, never a ConfigMap.
// Like the token file it changes in place (kubelet's ..data symlink swap), so
// readers re-read it rather than caching it for the process lifetime.
//
// Format (JSON, key webhooks.json):
//
//	{
//	  "webhooks": [
//	    {
//	      "name": "crm-sync",                          // ScimWebhook name (namespace is the tenant's)
//	      "url": "https://crm.example.com/hooks/scim",
//	      "eventTypes": ["user.created", "user.deleted"], // empty = all
//	      "paused": false,
//	      "secrets": ["whsec_...current", "whsec_...previous"], // every delivery signs with all
//	      "maxRetryDuration": "72h",
//	      "timeout": "10s",
//	      "maxBatch": 1,                              // >1 = batched delivery (JSON array body)
//	      "resume": "1732700000"                      // scim.operator.dev/resume annotation; a change clears failing
//	    }
//	  ],
//	  "allowPrivateNetworks": false                   // operator flag --webhook-allow-private-networks
//	}
package webhookconfig

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// FileName is the key of the webhook file in the tenant's webhooks Secret.
const FileName = "webhooks.json"

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Secret sizes in bytes (before base64), as the Standard Webhooks
// specification recommends: at least 24, at most 64.
const (
	MinSecretBytes     = 24
	MaxSecretBytes     = 64
	DefaultSecretBytes = 32
)

// Defaults applied by Parse to fields left out (zero).
const (
	DefaultMaxRetryDuration = 72 * time.Hour
	DefaultTimeout          = 10 * time.Second
	DefaultMaxBatch         = 1
)

// Limits Validate enforces, so that a mistaken file cannot make a delivery
// goroutine hold a connection for an hour or build a gigantic request body.
const (
	MaxTimeout    = 5 * time.Minute
	MaxMaxBatch   = 1000
	MaxSecrets    = 8
	MaxNameLength = 253
)

// File is the decoded webhook file.
type File struct {
	Webhooks []Webhook `json:"webhooks"`
	// AllowPrivateNetworks lets deliveries reach loopback, link-local,
	// private and metadata addresses (operator flag
	// --webhook-allow-private-networks; for local runs and tests).
	AllowPrivateNetworks bool `json:"allowPrivateNetworks"`
}

// Webhook is one ScimWebhook of the tenant.
type Webhook struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// EventTypes filters deliveries; empty means every type.
	EventTypes []string `json:"eventTypes,omitempty"`
	Paused     bool     `json:"paused"`
	// Secrets are whsec_ signing secrets, the current one first; a previous
	// one is present only inside its rotation grace window. Every delivery
	// carries one signature per secret.
	Secrets []string `json:"secrets"`
	// MaxRetryDuration is how long a failing event is retried before the
	// webhook is marked failing (and waits, dropping nothing).
	MaxRetryDuration Duration `json:"maxRetryDuration"`
	// Timeout bounds one delivery request.
	Timeout Duration `json:"timeout"`
	// MaxBatch > 1 sends up to that many events per request, as a JSON array.
	MaxBatch int `json:"maxBatch"`
	// Resume is the value of the scim.operator.dev/resume annotation; a
	// change of it clears the failing state.
	Resume string `json:"resume,omitempty"`
}

// Wants reports whether the webhook delivers events of type t.
func (w Webhook) Wants(t string) bool {
	return len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, t)
}

// Duration is a time.Duration written as a Go duration string ("72h", "10s").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\" or \"72h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Parse decodes a webhook file, fills defaults into fields left out and
// validates it.
func Parse(raw []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("decoding webhook file: %w", err)
	}
	f.Default()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load reads and parses the webhook file at path. It resolves symlinks on
// every call, so calling it again follows a mounted Secret's update.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading webhook file: %w", err)
	}
	return Parse(raw)
}

// Default fills defaults into fields left at zero.
func (f *File) Default() {
	for i := range f.Webhooks {
		w := &f.Webhooks[i]
		if len(w.EventTypes) == 0 {
			w.EventTypes = nil // [] and absent both mean every type
		}
		if w.MaxRetryDuration == 0 {
			w.MaxRetryDuration = Duration(DefaultMaxRetryDuration)
		}
		if w.Timeout == 0 {
			w.Timeout = Duration(DefaultTimeout)
		}
		if w.MaxBatch == 0 {
			w.MaxBatch = DefaultMaxBatch
		}
	}
}

// Validate reports every problem of the file, one per line, each naming the
// webhook and the field.
func (f *File) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, w := range f.Webhooks {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("webhook %d (%s): %s", i, w.Name, fmt.Sprintf(format, args...)))
		}
		switch {
		case w.Name == "":
			bad("name is empty")
		case len(w.Name) > MaxNameLength:
			bad("name is longer than %d characters", MaxNameLength)
		case seen[w.Name]:
			bad("name is used by an earlier webhook")
		}
		seen[w.Name] = true
		if err := ValidateURL(w.URL); err != nil {
			bad("%v", err)
		}
		for _, t := range w.EventTypes {
			if !slices.Contains(eventlog.Types, t) {
				bad("unknown event type %q (known: %s)", t, strings.Join(eventlog.Types, ", "))
			}
		}
		if len(w.Secrets) == 0 {
			bad("no signing secret")
		}
		if len(w.Secrets) > MaxSecrets {
			bad("%d signing secrets, at most %d", len(w.Secrets), MaxSecrets)
		}
		for j, s := range w.Secrets {
			if _, err := DecodeSecret(s); err != nil {
				bad("secret %d: %v", j, err) // never the secret itself
			}
		}
		if w.MaxRetryDuration <= 0 {
			bad("maxRetryDuration must be positive")
		}
		if w.Timeout <= 0 || w.Timeout.D() > MaxTimeout {
			bad("timeout must be positive and at most %s", MaxTimeout)
		}
		if w.MaxBatch < 1 || w.MaxBatch > MaxMaxBatch {
			bad("maxBatch must be between 1 and %d", MaxMaxBatch)
		}
	}
	return errors.Join(errs...)
}

// ValidateURL checks a delivery URL: absolute http or https with a host, no
// user information (credentials belong in no URL that lands in status).
// Whether the host may be a private address is decided at dial time.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("url %q: scheme must be https or http", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("url %q: no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("url: must not carry user information")
	}
	return nil
}

// Marshal encodes the file deterministically (webhooks in the given order).
func (f *File) Marshal() ([]byte, error) {
	if f.Webhooks == nil {
		f.Webhooks = []Webhook{}
	}
	return json.MarshalIndent(f, "", "  ")
}

// NewSecret returns a fresh signing secret: SecretPrefix followed by the
// standard base64 of DefaultSecretBytes bytes from crypto/rand.
func NewSecret() (string, error) {
	b := make([]byte, DefaultSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSecret returns the key bytes of a whsec_ secret. Errors never
// contain the secret.
func DecodeSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("signing secret must start with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("signing secret is not standard base64 after " + SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("signing secret has %d bytes, must have %d to %d", len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}
