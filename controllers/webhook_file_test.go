package controllers

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

func TestWebhookFile(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	mkSecret := func(b string) string {
		return webhookconfig.SecretPrefix + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(b, 32)))
	}
	cur, prev := mkSecret("c"), mkSecret("p")
	hook := func(name string, mutate ...func(*scimv1alpha1.ScimWebhook)) scimv1alpha1.ScimWebhook {
		wh := scimv1alpha1.ScimWebhook{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
			Spec:       scimv1alpha1.ScimWebhookSpec{URL: "https://" + name + ".example.com/hook", MaxBatch: 1},
		}
		for _, m := range mutate {
			m(&wh)
		}
		return wh
	}
	owned := func(wh scimv1alpha1.ScimWebhook, data map[string]string, previousUntil *time.Time) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: wh.SecretName(), Namespace: "ns",
			Labels:          map[string]string{LabelManagedBy: ManagedByValue},
			OwnerReferences: []metav1.OwnerReference{{UID: wh.UID, Controller: ptr.To(true), Name: wh.Name, Kind: "ScimWebhook"}},
		}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		if previousUntil != nil {
			s.Annotations = map[string]string{AnnotationPreviousValidUntil: previousUntil.Format(time.RFC3339)}
		}
		return s
	}
	inGrace, pastGrace := now.Add(time.Hour), now.Add(-time.Second)

	b := hook("b-grace")
	a := hook("a-past-grace")
	c := hook("c-not-issued")
	d := hook("d-user-secret", func(wh *scimv1alpha1.ScimWebhook) { wh.Spec.SecretName = "theirs" })
	e := hook("e-bad-url", func(wh *scimv1alpha1.ScimWebhook) { wh.Spec.URL = "https://exa mple.com/%zz" })
	f := hook("f-filtered", func(wh *scimv1alpha1.ScimWebhook) {
		wh.Spec.EventTypes = []scimv1alpha1.WebhookEventType{"user.deleted"}
		wh.Annotations = map[string]string{scimv1alpha1.ResumeAnnotation: "r9"}
	})
	userSecret := owned(d, map[string]string{"secret": cur}, nil)
	userSecret.OwnerReferences = nil
	secrets := map[string]*corev1.Secret{
		"b-grace":      owned(b, map[string]string{"secret": cur, "previous": prev}, &inGrace),
		"a-past-grace": owned(a, map[string]string{"secret": cur, "previous": prev}, &pastGrace),
		"theirs":       userSecret,
		"e-bad-url":    owned(e, map[string]string{"secret": cur}, nil),
		"f-filtered":   owned(f, map[string]string{"secret": cur}, nil),
	}
	file, next := webhookFile([]scimv1alpha1.ScimWebhook{b, a, c, d, e, f}, secrets, true, now)

	var got []string
	for _, w := range file.Webhooks {
		got = append(got, w.Name+"/"+strings.Join(fingerprints(w.Secrets), "+"))
	}
	want := []string{
		"a-past-grace/" + strings.Join(fingerprints([]string{cur}), "+"),
		"b-grace/" + strings.Join(fingerprints([]string{cur, prev}), "+"),
		"f-filtered/" + strings.Join(fingerprints([]string{cur}), "+"),
	}
	if toJSON(got) != toJSON(want) {
		t.Fatalf("webhooks %v, want %v", got, want)
	}
	if !next.Equal(inGrace) {
		t.Errorf("next change %v, want the end of b's grace window %v", next, inGrace)
	}
	if !file.AllowPrivateNetworks {
		t.Error("allowPrivateNetworks not carried")
	}
	if w := file.Webhooks[2]; len(w.EventTypes) != 1 || w.Resume != "r9" || w.Timeout.D() != webhookconfig.DefaultTimeout {
		t.Errorf("f-filtered entry: types %v resume %q timeout %v", w.EventTypes, w.Resume, w.Timeout.D())
	}
	raw, err := file.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhookconfig.Parse(raw); err != nil {
		t.Fatalf("the server would refuse the file: %v", err)
	}
}

func TestDeliveryConditions(t *testing.T) {
	at := &metav1.Time{Time: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	cases := []struct {
		name         string
		paused       bool
		state        string
		observed     bool
		status       metav1.ConditionStatus
		reason, text string
	}{
		{"never reported", false, "", false, metav1.ConditionUnknown, scimv1alpha1.ReasonAwaitingServer, "waiting for the tenant server"},
		{"reported without this webhook", false, "", true, metav1.ConditionUnknown, scimv1alpha1.ReasonAwaitingServer, "waiting"},
		{"idle", false, "idle", true, metav1.ConditionTrue, scimv1alpha1.ReasonDelivering, "acknowledged up to cursor 7, 0 event(s) waiting"},
		{"delivering", false, "delivering", true, metav1.ConditionTrue, scimv1alpha1.ReasonDelivering, "last delivered 2026-11-01T00:00:00Z"},
		{"standby replica", false, "standby", true, metav1.ConditionTrue, scimv1alpha1.ReasonDelivering, "delivering to"},
		{"spec paused wins", true, "failing", true, metav1.ConditionFalse, scimv1alpha1.ReasonPaused, "spec.paused"},
		{"server still paused after unpause", false, "paused", true, metav1.ConditionUnknown, scimv1alpha1.ReasonAwaitingServer, "waiting"},
		{"failing", false, "failing", true, metav1.ConditionFalse, scimv1alpha1.ReasonDeliveryFailing, "kubectl annotate scimwebhook wh scim.operator.dev/resume="},
		{"expired", false, "expired", true, metav1.ConditionFalse, scimv1alpha1.ReasonCursorExpired, "events after cursor 7 were pruned"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wh := &scimv1alpha1.ScimWebhook{ObjectMeta: metav1.ObjectMeta{Name: "wh"}, Spec: scimv1alpha1.ScimWebhookSpec{URL: "https://x.example.com", Paused: tc.paused}}
			wh.Status.State, wh.Status.AckedSeq, wh.Status.Lag, wh.Status.LastDeliveredAt = tc.state, 7, 0, at
			if tc.observed {
				wh.Status.StatusObservedAt = at
			}
			setDeliveryConditions(wh)
			c := conditionOf(wh.Status.Conditions, "Ready")
			if c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.text) {
				t.Errorf("Ready = %s %s %q, want %s %s containing %q", c.Status, c.Reason, c.Message, tc.status, tc.reason, tc.text)
			}
		})
	}
}
