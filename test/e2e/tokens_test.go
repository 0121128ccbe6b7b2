package e2e

import (
	"net/http"
	"testing"
	"time"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestRevokedTokenIsRefused: spec.revoked stops a token at once, and only that token.
func TestRevokedTokenIsRefused(t *testing.T) {
	t.Parallel()
	apply(t, "users-only.yaml")
	tn := readyTenant(t, "e2e-users", "e2e-users-entra")
	apply(t, "revocable-token.yaml")
	script := &tenant{name: tn.name, host: tn.host, base: tn.base, secret: "e2e-users-script"}
	var tok string
	eventually(t, 30*time.Second, "second token accepted", func() string {
		if tok = script.token(t); tok == "" {
			return "no token in its Secret yet"
		}
		if s := tn.statusWith(t, tok); s != http.StatusOK {
			return http.StatusText(s)
		}
		return ""
	})

	patchToken(t, "e2e-users-script", func(tok *scimv1alpha1.ScimToken) { tok.Spec.Revoked = true })
	eventually(t, 15*time.Second, "revoked token refused", func() string {
		if s := tn.statusWith(t, tok); s != http.StatusUnauthorized {
			return http.StatusText(s)
		}
		return ""
	})
	// The tenant's other token is untouched (it may be mid-rotation: read it now).
	eventually(t, 15*time.Second, "other token still accepted", func() string {
		if s := tn.statusWith(t, tn.token(t)); s != http.StatusOK {
			return http.StatusText(s)
		}
		return ""
	})
}

// TestTokenOfOneTenantIsRefusedByAnother: tokens are per tenant.
func TestTokenOfOneTenantIsRefusedByAnother(t *testing.T) {
	t.Parallel()
	apply(t, "users-only.yaml")
	apply(t, "users-and-groups.yaml")
	users := readyTenant(t, "e2e-users", "e2e-users-entra")
	full := readyTenant(t, "e2e-full", "e2e-full-entra-token")
	for _, c := range []struct {
		from, to *tenant
	}{{users, full}, {full, users}} {
		// Only the owner's token is accepted, whichever is current.
		eventually(t, 15*time.Second, c.from.name+"'s token accepted by "+c.from.name, func() string {
			if s := c.from.statusWith(t, c.from.token(t)); s != http.StatusOK {
				return http.StatusText(s)
			}
			return ""
		})
		if s := c.to.statusWith(t, c.from.token(t)); s != http.StatusUnauthorized {
			t.Errorf("%s's token at %s: %d, want 401", c.from.name, c.to.name, s)
		}
	}
}
