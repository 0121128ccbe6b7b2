package rotation

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }

func TestScheduleOf(t *testing.T) {
	h := func(n int) *metav1.Duration { return &metav1.Duration{Duration: time.Duration(n) * time.Hour} }
	cases := []struct {
		name    string
		r       *scimv1alpha1.RotationSpec
		expires *metav1.Duration
		want    Schedule
	}{
		{"nothing set", nil, nil, Schedule{Grace: DefaultGracePeriod}},
		{"interval only", &scimv1alpha1.RotationSpec{Interval: h(720)}, nil, Schedule{Interval: 720 * time.Hour, Grace: DefaultGracePeriod}},
		{"zero grace", &scimv1alpha1.RotationSpec{GracePeriod: h(0)}, nil, Schedule{}},
		{"interval 1h, grace unset: capped at the interval", &scimv1alpha1.RotationSpec{Interval: h(1)}, nil, Schedule{Interval: time.Hour, Grace: time.Hour}},
		{"interval exactly 24h, grace unset", &scimv1alpha1.RotationSpec{Interval: h(24)}, nil, Schedule{Interval: 24 * time.Hour, Grace: DefaultGracePeriod}},
		{"explicit grace wins over the cap", &scimv1alpha1.RotationSpec{Interval: h(2), GracePeriod: &metav1.Duration{Duration: 10 * time.Minute}}, nil, Schedule{Interval: 2 * time.Hour, Grace: 10 * time.Minute}},
		{"everything", &scimv1alpha1.RotationSpec{Interval: h(720), GracePeriod: h(48)}, h(1000), Schedule{720 * time.Hour, 48 * time.Hour, 1000 * time.Hour}},
	}
	for _, tc := range cases {
		if got := ScheduleOf(tc.r, tc.expires); got != tc.want {
			t.Errorf("%s: ScheduleOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A webhook secret's life: issue, rotate on request with a grace window,
// the previous secret expiring at the window's end, the deadlines between.
func TestTimelineLifecycle(t *testing.T) {
	sch := Schedule{Interval: 10 * time.Hour, Grace: 2 * time.Hour}
	var tl Timeline
	state := func(now time.Time, secretHash, request string) State {
		return State{Timeline: tl, Schedule: sch, SecretHash: secretHash, RotateRequest: request, Now: now}
	}
	if got := ShouldIssue(state(t0, "", "")); got != FirstIssue {
		t.Fatalf("empty timeline: %q, want %q", got, FirstIssue)
	}
	tl.Rotate(sch, auth.Hash("a"), 1, t0, "")
	if got := ShouldIssue(state(t0.Add(time.Hour), auth.Hash("a"), "")); got != "" {
		t.Fatalf("steady: %q", got)
	}
	if d := tl.NextDeadline(); !d.Equal(t0.Add(10 * time.Hour)) {
		t.Fatalf("deadline %v, want the interval", d)
	}
	if got := ShouldIssue(state(t0.Add(time.Hour), auth.Hash("a"), "r1")); got != Requested {
		t.Fatalf("annotation: %q", got)
	}
	tl.Rotate(sch, auth.Hash("b"), 2, t0.Add(time.Hour), "r1")
	if tl.PreviousHash != auth.Hash("a") || !tl.PreviousValidUntil.Equal(at(3*time.Hour)) {
		t.Fatalf("previous after rotation: %+v", tl)
	}
	if d := tl.NextDeadline(); !d.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("deadline %v, want the end of the grace window", d)
	}
	if tl.ExpirePrevious(t0.Add(3*time.Hour - time.Second)) {
		t.Fatal("previous expired inside its window")
	}
	if !tl.ExpirePrevious(t0.Add(3*time.Hour)) || tl.PreviousHash != "" || tl.PreviousValidUntil != nil {
		t.Fatalf("previous kept after its window: %+v", tl)
	}
	if tl.PreviousFingerprint != auth.Fingerprint("a") {
		t.Errorf("previous fingerprint %q lost; it stays as history", tl.PreviousFingerprint)
	}
	if got := ShouldIssue(state(t0.Add(11*time.Hour), auth.Hash("b"), "r1")); got != IntervalElapsed {
		t.Fatalf("interval: %q", got)
	}
}

func TestEarliest(t *testing.T) {
	if !Earliest().IsZero() || !Earliest(time.Time{}).IsZero() {
		t.Error("no times: want zero")
	}
	if got := Earliest(time.Time{}, t0.Add(time.Hour), t0, time.Time{}); !got.Equal(t0) {
		t.Errorf("Earliest = %v, want %v", got, t0)
	}
}
