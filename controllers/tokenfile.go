package controllers

import (
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// tokenFile computes the tenant's accepted-token file from its ScimTokens at
// now: each token's current hash while it is neither revoked nor expired, and
// its previous hash while inside the grace window. It also returns when the
// file next changes by itself (an entry's notAfter), zero if never.
func tokenFile(tokens []scimv1alpha1.ScimToken, now time.Time) (*auth.TokenFile, time.Time) {
	file := &auth.TokenFile{Tokens: []auth.TokenEntry{}}
	var next time.Time
	add := func(tok *scimv1alpha1.ScimToken, revision int64, hash string, notAfter *metav1.Time) {
		if hash == "" || (notAfter != nil && !now.Before(notAfter.Time)) {
			return
		}
		e := auth.TokenEntry{Name: tok.Name, Revision: revision, SHA256: hash, Scopes: scopes(tok), RateLimit: rateLimit(tok.Spec.RateLimit)}
		if notAfter != nil {
			na := notAfter.UTC().Truncate(time.Second)
			e.NotAfter = &na
			if next.IsZero() || na.Before(next) {
				next = na
			}
		}
		file.Tokens = append(file.Tokens, e)
	}
	for i := range tokens {
		tok := &tokens[i]
		if tok.Spec.Revoked || !tok.DeletionTimestamp.IsZero() {
			continue
		}
		st := tok.Status
		add(tok, st.Revision, st.Hash, st.ExpiresAt)
		if st.PreviousValidUntil != nil {
			add(tok, st.Revision-1, st.PreviousHash, st.PreviousValidUntil)
		}
	}
	slices.SortFunc(file.Tokens, func(a, b auth.TokenEntry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(b.Revision - a.Revision)
	})
	return file, next
}

// rateLimit is the server's form of a rate limit spec (a tenant's or a
// token's): burst defaults to twice requestsPerSecond, so a client that was
// quiet for a moment may catch up. nil stays nil.
func rateLimit(r *scimv1alpha1.RateLimitSpec) *config.RateLimit {
	if r == nil {
		return nil
	}
	burst := 2 * r.RequestsPerSecond
	if r.Burst != nil {
		burst = *r.Burst
	}
	return &config.RateLimit{RequestsPerSecond: r.RequestsPerSecond, Burst: burst}
}

func scopes(tok *scimv1alpha1.ScimToken) []string {
	if len(tok.Spec.Scopes) == 0 {
		return []string{auth.ScopeRead, auth.ScopeWrite}
	}
	out := make([]string, 0, len(tok.Spec.Scopes))
	for _, s := range tok.Spec.Scopes {
		out = append(out, string(s))
	}
	slices.Sort(out)
	return out
}
