package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
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

// TestServerRefusesAnExpiredTokenByItsOwnClock: the server checks notAfter
// with its own clock; it does not rely on the operator dropping the entry.
// The operator's clock is put two hours behind the real one while it issues
// a token that expires after one hour: to the operator that token is valid
// and stays in the token file, to the server it expired an hour ago.
func TestServerRefusesAnExpiredTokenByItsOwnClock(t *testing.T) {
	t.Parallel()
	apply(t, "users-only.yaml")
	tn := readyTenant(t, "e2e-users", "e2e-users-entra")

	clockMu.Lock()
	defer clockMu.Unlock()
	saved := operatorClock.Now()
	defer operatorClock.SetTime(saved)
	operatorClock.SetTime(time.Now().Add(-2 * time.Hour))

	// Fresh names: a deleted token's Secret outlives it until the local GC runs.
	suffix := uuid.NewString()[:8]
	expiring, witness := "e2e-users-expiring-"+suffix, "e2e-users-witness-"+suffix
	createToken(t, expiring, tn.name, func(tok *scimv1alpha1.ScimToken) {
		tok.Spec.ExpiresAfter = &metav1.Duration{Duration: time.Hour}
	})
	defer deleteToken(t, expiring)
	inFile := func() string {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tn.name + "-scim-tokens"}, s); err != nil {
			return err.Error()
		}
		f, err := auth.ParseTokenFile(s.Data[auth.TokenFileName])
		if err != nil {
			return err.Error()
		}
		for _, e := range f.Tokens {
			if e.Name == expiring && e.NotAfter != nil {
				return ""
			}
		}
		return "no entry with notAfter for " + expiring
	}
	eventually(t, 30*time.Second, "expiring token in the token file", inFile)
	// A second token issued after it: once the server accepts it, the server
	// has read a file that holds the expiring token's entry too.
	createToken(t, witness, tn.name)
	defer deleteToken(t, witness)
	wt := &tenant{name: tn.name, host: tn.host, base: tn.base, secret: witness}
	eventually(t, 30*time.Second, "witness token accepted", func() string {
		tok := wt.token(t)
		if tok == "" {
			return "no witness token in its Secret yet"
		}
		if s := tn.statusWith(t, tok); s != http.StatusOK {
			return http.StatusText(s)
		}
		return ""
	})
	et := (&tenant{secret: expiring}).token(t)
	if et == "" {
		t.Fatal("the expiring token's Secret is empty")
	}
	if s := tn.statusWith(t, et); s != http.StatusUnauthorized {
		t.Fatalf("token past its notAfter by the server's clock: %d, want 401", s)
	}
	if why := inFile(); why != "" {
		t.Fatalf("the refusal must come from the server's clock, but the operator dropped the entry: %s", why)
	}
}
