package delivery

import (
	"fmt"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Defaults of a webhook's delivery settings.
const (
	DefaultMaxRetryDuration = 72 * time.Hour
	DefaultTimeout          = 10 * time.Second
)

// Webhook is one receiver as delivery needs it: the parsed form of an entry
// of the webhooks file the operator renders (package webhookconfig).
type Webhook struct {
	Name string
	URL  string
	// EventTypes filters what is sent; empty means every type.
	EventTypes []string
	Paused     bool
	// Secrets sign every request; each yields one signature, so during a
	// rotation's grace window receivers holding either secret verify.
	Secrets          []string
	MaxRetryDuration time.Duration
	Timeout          time.Duration
	// MaxBatch > 1 sends up to that many events per request as a JSON
	// array; 1 (or 0) sends one event object per request.
	MaxBatch int
	// Resume is an opaque token; a change ends the failing (or expired)
	// state.
	Resume string
}

// Config is the complete set of webhooks of a tenant.
type Config struct {
	Webhooks []Webhook
	// AllowPrivateNetworks permits receivers on loopback, private,
	// link-local and metadata addresses (the operator's
	// --webhook-allow-private-networks).
	AllowPrivateNetworks bool
}

// compiled is a Webhook ready to send: defaults applied, secrets decoded.
type compiled struct {
	Webhook
	types        map[string]bool // nil: every type
	signers      []*standardwebhooks.Webhook
	allowPrivate bool
}

func compile(w Webhook, allowPrivate bool) (*compiled, error) {
	c := &compiled{Webhook: w, allowPrivate: allowPrivate}
	if c.MaxRetryDuration <= 0 {
		c.MaxRetryDuration = DefaultMaxRetryDuration
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBatch < 1 {
		c.MaxBatch = 1
	}
	if len(w.EventTypes) > 0 {
		c.types = make(map[string]bool, len(w.EventTypes))
		for _, t := range w.EventTypes {
			c.types[t] = true
		}
	}
	if len(w.Secrets) == 0 {
		return nil, fmt.Errorf("webhook %s: no signing secret", w.Name)
	}
	for i, s := range w.Secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: secret %d is not whsec_<base64>: %w", w.Name, i, err)
		}
		c.signers = append(c.signers, wh)
	}
	return c, nil
}

func (c *compiled) wants(eventType string) bool { return c.types == nil || c.types[eventType] }
