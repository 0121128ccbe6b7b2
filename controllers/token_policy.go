package controllers

import (
	"time"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/rotation"
)

// Why a token is (re)issued: the shared rotation reasons, under the names
// the token controller has always used.
const (
	issueFirst        = rotation.FirstIssue
	issueSecretLost   = rotation.SecretLost
	issueUnrevoked    = rotation.Unrevoked
	rotateRequested   = rotation.Requested
	rotateInterval    = rotation.IntervalElapsed
	rotateSecretDrift = rotation.SecretModified
)

// tokenState is what the rotation policies look at.
type tokenState struct {
	token *scimv1alpha1.ScimToken
	// secretHash is the SHA-256 of the token found in the Secret, "" if the
	// Secret or its token key is missing.
	secretHash string
	now        time.Time
}

// shouldIssue runs the shared policy chain. A revoked token is never issued or rotated.
func shouldIssue(s tokenState) string {
	if s.token.Spec.Revoked {
		return ""
	}
	return rotation.ShouldIssue(rotation.State{
		Timeline:      tokenTimeline(&s.token.Status),
		Schedule:      tokenSchedule(s.token),
		RotateRequest: s.token.Annotations[scimv1alpha1.RotateAnnotation],
		SecretHash:    s.secretHash,
		Now:           s.now,
	})
}

// rotateToStatus records a newly issued token: the current one becomes the
// previous (for the grace period) and the timeline restarts at issued.
func rotateToStatus(tok *scimv1alpha1.ScimToken, hash string, rev int64, issued time.Time, request string) {
	tl := tokenTimeline(&tok.Status)
	tl.Rotate(tokenSchedule(tok), hash, rev, issued, request)
	setTokenTimeline(&tok.Status, tl)
}

func tokenSchedule(tok *scimv1alpha1.ScimToken) rotation.Schedule {
	return rotation.ScheduleOf(tok.Spec.Rotation, tok.Spec.ExpiresAfter)
}

// tokenTimeline and setTokenTimeline copy the issuing record between a
// token's status and the shared rotation policy.
func tokenTimeline(st *scimv1alpha1.ScimTokenStatus) rotation.Timeline {
	return rotation.Timeline{
		Revision: st.Revision, Hash: st.Hash, Fingerprint: st.Fingerprint,
		IssuedAt: st.IssuedAt, NextRotationAt: st.NextRotationAt, ExpiresAt: st.ExpiresAt,
		PreviousHash: st.PreviousHash, PreviousFingerprint: st.PreviousFingerprint,
		PreviousValidUntil: st.PreviousValidUntil, LastRotateRequest: st.LastRotateRequest,
	}
}

func setTokenTimeline(st *scimv1alpha1.ScimTokenStatus, t rotation.Timeline) {
	st.Revision, st.Hash, st.Fingerprint = t.Revision, t.Hash, t.Fingerprint
	st.IssuedAt, st.NextRotationAt, st.ExpiresAt = t.IssuedAt, t.NextRotationAt, t.ExpiresAt
	st.PreviousHash, st.PreviousFingerprint = t.PreviousHash, t.PreviousFingerprint
	st.PreviousValidUntil, st.LastRotateRequest = t.PreviousValidUntil, t.LastRotateRequest
}
