package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// Issue #9 item 12: a ScimToken's spec.rateLimit reaches its token file
// entry; without one the entry carries none and the server gives the token
// a bucket of the tenant's limit.
func TestTokenFileRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		spec *scimv1alpha1.RateLimitSpec
		want *config.RateLimit
	}{
		{"unset: the tenant's limit applies", nil, nil},
		{"burst defaults to twice requestsPerSecond", &scimv1alpha1.RateLimitSpec{RequestsPerSecond: 5}, &config.RateLimit{RequestsPerSecond: 5, Burst: 10}},
		{"burst as given", &scimv1alpha1.RateLimitSpec{RequestsPerSecond: 5, Burst: ptr.To[int32](7)}, &config.RateLimit{RequestsPerSecond: 5, Burst: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
				Spec:   scimv1alpha1.ScimTokenSpec{RateLimit: tc.spec},
				Status: scimv1alpha1.ScimTokenStatus{Revision: 2, Hash: "h2", PreviousHash: "h1", PreviousValidUntil: &metav1.Time{Time: now.Add(time.Hour)}}}
			file, _ := tokenFile([]scimv1alpha1.ScimToken{tok}, now)
			if len(file.Tokens) != 2 {
				t.Fatalf("entries %s, want the current and the previous token", toJSON(file.Tokens))
			}
			for _, e := range file.Tokens { // both revisions: they share the name's bucket
				if toJSON(e.RateLimit) != toJSON(tc.want) {
					t.Errorf("revision %d: rateLimit %s, want %s", e.Revision, toJSON(e.RateLimit), toJSON(tc.want))
				}
			}
		})
	}
}

// The field through the real API server: CEL refuses a burst below the
// rate, and an accepted limit reaches the tenant's token Secret.
func TestTokenRateLimitReachesTheTokenFile(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))

	bad := newToken(ns, "bad", "acme")
	bad.Spec.RateLimit = &scimv1alpha1.RateLimitSpec{RequestsPerSecond: 10, Burst: ptr.To[int32](5)}
	err := k8s.Create(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "rateLimit.burst must be at least requestsPerSecond") {
		t.Fatalf("create with burst < requestsPerSecond: %v", err)
	}

	tok := newToken(ns, "reader", "acme")
	tok.Spec.Scopes = []scimv1alpha1.TokenScope{scimv1alpha1.ScopeRead}
	tok.Spec.RateLimit = &scimv1alpha1.RateLimitSpec{RequestsPerSecond: 3}
	mustCreate(t, tok)
	eventually(t, 30*time.Second, func() error {
		f, err := tokenFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		for _, e := range f.Tokens {
			if e.Name == "reader" {
				if e.RateLimit == nil || *e.RateLimit != (config.RateLimit{RequestsPerSecond: 3, Burst: 6}) {
					return fmt.Errorf("reader's rateLimit %s", toJSON(e.RateLimit))
				}
				return nil
			}
		}
		return fmt.Errorf("no entry for reader in %s", toJSON(f.Tokens))
	})
}
