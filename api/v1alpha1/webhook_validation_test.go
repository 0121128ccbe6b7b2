package v1alpha1_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestWebhookAdmission(t *testing.T) {
	ctx := context.Background()
	const ref = "tenantRef: {name: acme}\n"
	cases := []struct {
		name    string
		spec    string
		wantErr string // "" means accepted
	}{
		{"https", ref + "url: https://crm.example.com/hooks/scim", ""},
		{"https with port and query", ref + "url: https://crm.example.com:8443/hooks?tenant=acme", ""},
		{"https to an IP", ref + "url: https://203.0.113.7/hook", ""},
		{"http to a bare service name", ref + "url: http://mirror:8080/webhook", ""},
		{"http to localhost (local runs)", ref + "url: http://localhost:8490/webhook", ""},
		{"http to name.namespace.svc", ref + "url: http://mirror.apps.svc:8080/webhook", ""},
		{"http to svc.cluster.local", ref + "url: http://mirror.apps.svc.cluster.local/webhook", ""},
		{"http to the internet", ref + "url: http://crm.example.com/hook", "http is allowed only for in-cluster Service names"},
		{"http to an IP", ref + "url: http://10.0.0.7/hook", "http is allowed only for in-cluster Service names"},
		{"ftp", ref + "url: ftp://files.example.com/x", "url must use https"},
		{"relative", ref + "url: /hooks/scim", "url must be an absolute URL"},
		{"not a url", ref + "url: crm.example.com", "url must be an absolute URL"},
		{"credentials in url", ref + "url: https://user:pass@crm.example.com/hook", "must not carry user information"},
		{"no url", ref, "spec.url: Required value"},
		{"event filter", ref + "url: https://x.example.com\neventTypes: [user.created, user.deleted, group.member_added]", ""},
		{"unknown event type", ref + "url: https://x.example.com\neventTypes: [user.exploded]", `Unsupported value: "user.exploded"`},
		{"duplicate event type", ref + "url: https://x.example.com\neventTypes: [user.created, user.created]", "Duplicate value"},
		{"paused with batching", ref + "url: https://x.example.com\npaused: true\nmaxBatch: 100", ""},
		{"batch zero", ref + "url: https://x.example.com\nmaxBatch: 0", "should be greater than or equal to 1"},
		{"batch too big", ref + "url: https://x.example.com\nmaxBatch: 1001", "should be less than or equal to 1000"},
		{"timeout too long", ref + "url: https://x.example.com\ntimeout: 10m", "timeout must be between 1s and 5m"},
		{"timeout too short", ref + "url: https://x.example.com\ntimeout: 100ms", "timeout must be between 1s and 5m"},
		{"retry too short", ref + "url: https://x.example.com\nmaxRetryDuration: 30s", "maxRetryDuration must be at least 1m"},
		{"retry not a duration", ref + "url: https://x.example.com\nmaxRetryDuration: 3 days", "should match"},
		{"rotation", ref + "url: https://x.example.com\nrotation: {interval: 720h, gracePeriod: 48h}", ""},
		{"grace longer than interval", ref + "url: https://x.example.com\nrotation: {interval: 1h, gracePeriod: 2h}", "rotation.gracePeriod must not be longer than rotation.interval"},
		{"bad secret name", ref + "url: https://x.example.com\nsecretName: My_Secret", "secretName must be a valid Secret name"},
		{"no tenant", "url: https://x.example.com", "spec.tenantRef: Required value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, object(t, "ScimWebhook", tc.spec))
			checkAdmission(t, err, tc.wantErr)
		})
	}
}

func TestWebhookImmutableFields(t *testing.T) {
	ctx := context.Background()
	const spec = "tenantRef: {name: acme}\nurl: https://x.example.com/hook"
	cases := []struct {
		name    string
		mutate  func(u *unstructured.Unstructured)
		wantErr string
	}{
		{"tenantRef", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "other", "spec", "tenantRef", "name")
		}, "tenantRef is immutable"},
		{"secretName added", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "two", "spec", "secretName")
		}, "secretName is immutable"},
		{"url may change", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "https://y.example.com/hook", "spec", "url")
		}, ""},
		{"pause is allowed", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, true, "spec", "paused")
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, "ScimWebhook", spec)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("create: %v", err)
			}
			tc.mutate(u)
			checkAdmission(t, env.Client.Update(ctx, u), tc.wantErr)
		})
	}
}

func TestWebhookDefaults(t *testing.T) {
	ctx := context.Background()
	u := object(t, "ScimWebhook", "tenantRef: {name: acme}\nurl: https://x.example.com/hook")
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	var wh scimv1alpha1.ScimWebhook
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &wh); err != nil {
		t.Fatal(err)
	}
	s := wh.Spec
	if s.MaxRetryDuration == nil || s.MaxRetryDuration.Duration.String() != "72h0m0s" {
		t.Errorf("maxRetryDuration = %v, want 72h", s.MaxRetryDuration)
	}
	if s.Timeout == nil || s.Timeout.Duration.String() != "10s" {
		t.Errorf("timeout = %v, want 10s", s.Timeout)
	}
	if s.MaxBatch != 1 {
		t.Errorf("maxBatch = %d, want 1", s.MaxBatch)
	}
	if s.Rotation == nil || s.Rotation.GracePeriod == nil || s.Rotation.GracePeriod.Duration.String() != "24h0m0s" || s.Rotation.Interval != nil {
		t.Errorf("rotation = %+v, want gracePeriod 24h and no interval", s.Rotation)
	}
	if len(s.EventTypes) != 0 || s.Paused {
		t.Errorf("eventTypes %v paused %v, want all types, not paused", s.EventTypes, s.Paused)
	}
}
