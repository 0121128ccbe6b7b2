package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/deliverystatus"
)

// applyTokenUse keeps current and previous revisions apart across
// rotations and server restarts.
func TestApplyTokenUse(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) *metav1.Time { return &metav1.Time{Time: t0.Add(time.Duration(m) * time.Minute)} }
	use := func(rev int64, m int) deliverystatus.TokenUse {
		return deliverystatus.TokenUse{Name: "entra", Revision: rev, LastRequest: t0.Add(time.Duration(m) * time.Minute)}
	}
	for _, tc := range []struct {
		name         string
		status       scimv1alpha1.ScimTokenStatus
		report       []deliverystatus.TokenUse
		wantLast     *metav1.Time
		wantPrev     *metav1.Time
		wantSwitched bool
	}{
		{"first use", scimv1alpha1.ScimTokenStatus{Revision: 1}, []deliverystatus.TokenUse{use(1, 5)}, at(5), nil, false},
		{"unused", scimv1alpha1.ScimTokenStatus{Revision: 1}, nil, nil, nil, false},
		{"restarted server reports nothing", scimv1alpha1.ScimTokenStatus{Revision: 1, LastUsedRevision: 1, LastUsedTime: at(5)}, nil, at(5), nil, false},
		{"an older answer does not go back", scimv1alpha1.ScimTokenStatus{Revision: 1, LastUsedRevision: 1, LastUsedTime: at(5)}, []deliverystatus.TokenUse{use(1, 3)}, at(5), nil, false},
		{"rotated, new token not used yet", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p", LastUsedRevision: 1, LastUsedTime: at(5)},
			[]deliverystatus.TokenUse{use(1, 7)}, nil, at(7), false},
		{"switched", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p", LastUsedRevision: 2, PreviousLastUsedTime: at(7)},
			[]deliverystatus.TokenUse{use(1, 7), use(2, 9)}, at(9), at(7), true},
		{"two rotations since: the old use is no one's", scimv1alpha1.ScimTokenStatus{Revision: 3, PreviousFingerprint: "p", LastUsedRevision: 1, LastUsedTime: at(5)},
			nil, nil, nil, false},
		{"another token's use", scimv1alpha1.ScimTokenStatus{Revision: 1}, []deliverystatus.TokenUse{{Name: "other", Revision: 1, LastRequest: t0}}, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := &scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Name: "entra"}, Status: tc.status}
			switched := applyTokenUse(tok, &deliverystatus.TenantStatus{Tokens: tc.report})
			st := tok.Status
			if switched != tc.wantSwitched || !timeEq(st.LastUsedTime, tc.wantLast) || !timeEq(st.PreviousLastUsedTime, tc.wantPrev) || st.LastUsedRevision != st.Revision {
				t.Fatalf("switched %v, status %s; want switched %v, last %v, previous %v", switched, toJSON(st), tc.wantSwitched, tc.wantLast, tc.wantPrev)
			}
		})
	}
}

func timeEq(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Time.Equal(b.Time)
}
