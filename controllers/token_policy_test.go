package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

func TestRotationPolicyChain(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	issued := &metav1.Time{Time: now.Add(-2 * time.Hour)}
	hash := auth.Hash("scim_current")
	base := func() *scimv1alpha1.ScimToken {
		return &scimv1alpha1.ScimToken{
			Spec:   scimv1alpha1.ScimTokenSpec{Rotation: &scimv1alpha1.RotationSpec{}},
			Status: scimv1alpha1.ScimTokenStatus{Revision: 3, Hash: hash, IssuedAt: issued, LastRotateRequest: "r1"},
		}
	}
	cases := []struct {
		name       string
		mutate     func(*scimv1alpha1.ScimToken)
		secretHash string
		want       string
	}{
		{"steady state keeps the token", func(*scimv1alpha1.ScimToken) {}, hash, ""},
		{"never issued", func(t *scimv1alpha1.ScimToken) { t.Status = scimv1alpha1.ScimTokenStatus{} }, "", issueFirst},
		{"revoked never issues", func(t *scimv1alpha1.ScimToken) { t.Spec.Revoked = true; t.Status = scimv1alpha1.ScimTokenStatus{} }, "", ""},
		{"un-revoked issues a fresh token", func(t *scimv1alpha1.ScimToken) { t.Status.Hash = "" }, "", issueUnrevoked},
		{"secret deleted", func(*scimv1alpha1.ScimToken) {}, "", issueSecretLost},
		{"secret edited", func(*scimv1alpha1.ScimToken) {}, auth.Hash("scim_forged"), rotateSecretDrift},
		{"new annotation value", func(t *scimv1alpha1.ScimToken) {
			t.Annotations = map[string]string{scimv1alpha1.RotateAnnotation: "r2"}
		}, hash, rotateRequested},
		{"same annotation value", func(t *scimv1alpha1.ScimToken) {
			t.Annotations = map[string]string{scimv1alpha1.RotateAnnotation: "r1"}
		}, hash, ""},
		{"annotation removed", func(t *scimv1alpha1.ScimToken) { t.Annotations = map[string]string{} }, hash, ""},
		{"interval not yet elapsed", func(t *scimv1alpha1.ScimToken) {
			t.Spec.Rotation.Interval = &metav1.Duration{Duration: 3 * time.Hour}
		}, hash, ""},
		{"interval elapsed", func(t *scimv1alpha1.ScimToken) {
			t.Spec.Rotation.Interval = &metav1.Duration{Duration: 2 * time.Hour}
		}, hash, rotateInterval},
		{"annotation wins over interval", func(t *scimv1alpha1.ScimToken) {
			t.Spec.Rotation.Interval = &metav1.Duration{Duration: time.Hour}
			t.Annotations = map[string]string{scimv1alpha1.RotateAnnotation: "r2"}
		}, hash, rotateRequested},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := base()
			tc.mutate(tok)
			if got := shouldIssue(tokenState{token: tok, secretHash: tc.secretHash, now: now}); got != tc.want {
				t.Errorf("shouldIssue = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRotateToStatusTimeline(t *testing.T) {
	issued := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tok := &scimv1alpha1.ScimToken{Spec: scimv1alpha1.ScimTokenSpec{
		Rotation:     &scimv1alpha1.RotationSpec{Interval: &metav1.Duration{Duration: 720 * time.Hour}, GracePeriod: &metav1.Duration{Duration: 48 * time.Hour}},
		ExpiresAfter: &metav1.Duration{Duration: 1000 * time.Hour},
	}}
	rotateToStatus(tok, auth.Hash("a"), 1, issued, "")
	st := tok.Status
	if st.PreviousHash != "" || st.PreviousValidUntil != nil {
		t.Fatalf("first issue has a previous token: %+v", st)
	}
	if !st.NextRotationAt.Time.Equal(issued.Add(720*time.Hour)) || !st.ExpiresAt.Time.Equal(issued.Add(1000*time.Hour)) {
		t.Fatalf("timeline: %+v", st)
	}
	later := issued.Add(720 * time.Hour)
	rotateToStatus(tok, auth.Hash("b"), 2, later, "x")
	st = tok.Status
	if st.PreviousHash != auth.Hash("a") || st.PreviousFingerprint != auth.Fingerprint("a") || !st.PreviousValidUntil.Time.Equal(later.Add(48*time.Hour)) {
		t.Fatalf("previous: %+v", st)
	}
	if st.Revision != 2 || st.Fingerprint != auth.Fingerprint("b") || st.LastRotateRequest != "x" {
		t.Fatalf("current: %+v", st)
	}
	// The grace window never outlives the previous token's own expiry.
	tok.Status.ExpiresAt = &metav1.Time{Time: later.Add(time.Hour)}
	rotateToStatus(tok, auth.Hash("c"), 3, later, "y")
	if !tok.Status.PreviousValidUntil.Time.Equal(later.Add(time.Hour)) {
		t.Errorf("previousValidUntil %v outlives the previous token's expiry %v", tok.Status.PreviousValidUntil, later.Add(time.Hour))
	}
	// A zero grace period drops the previous token at once.
	tok.Spec.Rotation.GracePeriod = &metav1.Duration{}
	rotateToStatus(tok, auth.Hash("d"), 4, later, "z")
	if tok.Status.PreviousHash != "" {
		t.Errorf("grace 0 kept a previous token")
	}
}

func TestTokenFile(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }
	tok := func(name string, st scimv1alpha1.ScimTokenStatus, mutate ...func(*scimv1alpha1.ScimToken)) scimv1alpha1.ScimToken {
		t := scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: st}
		for _, m := range mutate {
			m(&t)
		}
		return t
	}
	tokens := []scimv1alpha1.ScimToken{
		tok("b-grace", scimv1alpha1.ScimTokenStatus{Revision: 2, Hash: "h2", PreviousHash: "h1", PreviousValidUntil: at(time.Hour)}),
		tok("a-expired-grace", scimv1alpha1.ScimTokenStatus{Revision: 5, Hash: "h5", PreviousHash: "h4", PreviousValidUntil: at(-time.Second)}),
		tok("c-expired", scimv1alpha1.ScimTokenStatus{Revision: 1, Hash: "hx", ExpiresAt: at(0)}),
		tok("d-revoked", scimv1alpha1.ScimTokenStatus{Revision: 1, Hash: "hr"}, func(t *scimv1alpha1.ScimToken) { t.Spec.Revoked = true }),
		tok("e-read", scimv1alpha1.ScimTokenStatus{Revision: 1, Hash: "hread", ExpiresAt: at(30 * time.Minute)}, func(t *scimv1alpha1.ScimToken) {
			t.Spec.Scopes = []scimv1alpha1.TokenScope{scimv1alpha1.ScopeRead}
		}),
		tok("f-not-issued", scimv1alpha1.ScimTokenStatus{}),
	}
	file, next := tokenFile(tokens, now)
	var got []string
	for _, e := range file.Tokens {
		got = append(got, e.Name+"/"+e.SHA256)
	}
	want := []string{"a-expired-grace/h5", "b-grace/h2", "b-grace/h1", "e-read/hread"}
	if toJSON(got) != toJSON(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if !next.Equal(now.Add(30 * time.Minute)) {
		t.Errorf("next change %v, want in 30m (e-read expires)", next)
	}
	if s := file.Tokens[3].Scopes; len(s) != 1 || s[0] != "read" {
		t.Errorf("read token scopes %v", s)
	}
	if s := file.Tokens[0].Scopes; len(s) != 2 {
		t.Errorf("default scopes %v, want read and write", s)
	}
}
