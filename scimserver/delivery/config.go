package delivery

import (
	"fmt"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// compiled is a webhook ready to send: defaults applied, secrets decoded.
type compiled struct {
	webhookconfig.Webhook
	signers      []*standardwebhooks.Webhook
	allowPrivate bool
}

func compile(w webhookconfig.Webhook, allowPrivate bool) (*compiled, error) {
	c := &compiled{Webhook: w, allowPrivate: allowPrivate}
	if c.MaxRetryDuration <= 0 {
		c.MaxRetryDuration = webhookconfig.Duration(webhookconfig.DefaultMaxRetryDuration)
	}
	if c.Timeout <= 0 {
		c.Timeout = webhookconfig.Duration(webhookconfig.DefaultTimeout)
	}
	if c.MaxBatch < 1 {
		c.MaxBatch = webhookconfig.DefaultMaxBatch
	}
	if len(w.Secrets) == 0 {
		return nil, fmt.Errorf("webhook %s: no signing secret", w.Name)
	}
	for i, s := range w.Secrets {
		key, err := webhookconfig.DecodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: secret %d: %w", w.Name, i, err)
		}
		wh, _ := standardwebhooks.NewWebhookRaw(key)
		c.signers = append(c.signers, wh)
	}
	return c, nil
}
