package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// serving is what a reconcile observes of a tenant whose volume is bound and
// whose server runs, so that only the tokens decide Ready.
func serving() *observed {
	return &observed{
		claimPhase: corev1.ClaimBound,
		deployment: &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}},
	}
}

func TestNoTokenMessageSaysWhatToDo(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tok := func(name string, change func(*scimv1alpha1.ScimToken)) scimv1alpha1.ScimToken {
		tk := scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Name: name}}
		tk.Status.Hash = "h-" + name
		change(&tk)
		return tk
	}
	cases := []struct {
		name   string
		tokens []scimv1alpha1.ScimToken
		want   []string // substrings of the message, in order
	}{
		{"no ScimToken at all", nil, []string{"create one with spec.tenantRef.name: acme"}},
		{"revoked", []scimv1alpha1.ScimToken{tok("entra", func(t *scimv1alpha1.ScimToken) { t.Spec.Revoked = true; t.Status.Hash = "" })},
			[]string{"ScimToken entra is revoked: set spec.revoked to false", `kubectl patch scimtoken entra --type merge -p '{"spec":{"revoked":false}}'`, "or create a new ScimToken with spec.tenantRef.name: acme", "paste the new token"}},
		{"expired", []scimv1alpha1.ScimToken{tok("entra", func(t *scimv1alpha1.ScimToken) { t.Status.ExpiresAt = &metav1.Time{Time: now} })},
			[]string{"ScimToken entra expired (spec.expiresAfter): rotate it", `kubectl annotate scimtoken entra scim.operator.dev/rotate="$(date +%s)" --overwrite`}},
		{"not issued yet", []scimv1alpha1.ScimToken{tok("entra", func(t *scimv1alpha1.ScimToken) { t.Status.Hash = "" })},
			[]string{"ScimToken entra has no token yet", "kubectl describe scimtoken entra"}},
		{"two problems, each named, by name whatever the list order", []scimv1alpha1.ScimToken{
			tok("b", func(t *scimv1alpha1.ScimToken) { t.Status.ExpiresAt = &metav1.Time{Time: now.Add(-time.Hour)} }),
			tok("a", func(t *scimv1alpha1.ScimToken) { t.Spec.Revoked = true }),
		}, []string{"ScimToken a is revoked", "; ScimToken b expired"}},
		{"a token being deleted is not listed", []scimv1alpha1.ScimToken{tok("gone", func(t *scimv1alpha1.ScimToken) {
			t.DeletionTimestamp = &metav1.Time{Time: now}
			t.Spec.Revoked = true
		})}, []string{"no ScimToken is accepted by this tenant: create one"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "default"}}
			obs := serving()
			obs.unusableTokens = unusableTokens(tc.tokens, now)
			setTenantStatus(tenant, obs)
			c := meta.FindStatusCondition(tenant.Status.Conditions, scimv1alpha1.ConditionReady)
			if c == nil || c.Reason != scimv1alpha1.ReasonNoToken {
				t.Fatalf("Ready = %+v, want reason NoToken", c)
			}
			rest := c.Message
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("message %q lacks %q (in order)", c.Message, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestInsecureTenantURLCondition(t *testing.T) {
	cases := []struct {
		name    string
		ingress *scimv1alpha1.IngressSpec
		status  metav1.ConditionStatus
		reason  string
		url     string
	}{
		{"no ingress", nil, metav1.ConditionTrue, scimv1alpha1.ReasonNoIngress, "http://acme-scim.default.svc/default/acme/scim/v2?aadOptscim062020"},
		{"ingress without tls", &scimv1alpha1.IngressSpec{Host: "scim.example.com", Path: "/acme"}, metav1.ConditionTrue, scimv1alpha1.ReasonNoTLS, "http://scim.example.com/acme/scim/v2?aadOptscim062020"},
		{"ingress with tls", &scimv1alpha1.IngressSpec{Host: "scim.example.com", Path: "/acme", TLS: &scimv1alpha1.IngressTLS{SecretName: "tls"}}, metav1.ConditionFalse, scimv1alpha1.ReasonTLS, "https://scim.example.com/acme/scim/v2?aadOptscim062020"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", Namespace: "default", Generation: 3}}
			tenant.Spec.Ingress = tc.ingress
			obs := serving()
			obs.activeTokens = 1
			setTenantStatus(tenant, obs)
			if tenant.Status.TenantURL != tc.url {
				t.Errorf("tenantURL = %q, want %q", tenant.Status.TenantURL, tc.url)
			}
			c := meta.FindStatusCondition(tenant.Status.Conditions, scimv1alpha1.ConditionInsecureTenantURL)
			if c == nil || c.Status != tc.status || c.Reason != tc.reason || c.ObservedGeneration != 3 {
				t.Fatalf("InsecureTenantURL = %+v, want %s/%s at generation 3", c, tc.status, tc.reason)
			}
			if tc.status == metav1.ConditionTrue && !strings.Contains(c.Message, "Entra") {
				t.Errorf("message %q does not say why it matters (Entra refuses http)", c.Message)
			}
			// Ready is not affected by the URL's scheme.
			if r := meta.FindStatusCondition(tenant.Status.Conditions, scimv1alpha1.ConditionReady); r == nil || r.Reason == tc.reason {
				t.Errorf("Ready = %+v; the URL's scheme must not change Ready", r)
			}
		})
	}
}
