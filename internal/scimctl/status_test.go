package scimctl

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

func TestStatus(t *testing.T) {
	ns := namespace(t)
	acme, tok := tenantWithToken(t, ns, "acme")

	r := kubectlScim(t, "status", "-n", ns)
	if r.code != ExitOK {
		t.Fatalf("status:\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "LAST SYNC") {
		t.Fatalf("want a header and one tenant:\n%s", r.out)
	}
	if f := strings.Fields(lines[1]); f[0] != "acme" || f[1] != acme.Status.TenantURL || f[2] != "True" || f[3] != "Available" || f[4] != "1" {
		t.Fatalf("tenant line: %q", lines[1])
	}

	r = kubectlScim(t, "status", "acme", "-n", ns)
	if r.code != ExitOK {
		t.Fatalf("status acme:\n%s", r)
	}
	for _, want := range []string{"Tenant:        " + ns + "/acme", "URL:           " + acme.Status.TenantURL, "Ready:         True (Available)",
		"Tokens:", "acme-entra", tok.Status.Fingerprint, "FINGERPRINT", "NEXT ROTATION"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status acme lacks %q:\n%s", want, r.out)
		}
	}

	// A webhook of the tenant is listed with its state and lag.
	hook := &scimv1alpha1.ScimWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mirror"},
		Spec:       scimv1alpha1.ScimWebhookSpec{TenantRef: scimv1alpha1.TenantReference{Name: "acme"}, URL: "https://app.example.test/hooks"},
	}
	if err := k8s.Create(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() error {
		r = kubectlScim(t, "status", "acme", "-n", ns)
		if !strings.Contains(r.out, "Webhooks:") || !regexp.MustCompile(`(?m)^  mirror\s+\S+.*https://app.example.test/hooks$`).MatchString(r.out) {
			return errorf("no webhook line:\n%s", r)
		}
		return nil
	})

	r = kubectlScim(t, "status", "acme", "-n", ns, "-o", "json")
	var rep tenantReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || r.code != ExitOK {
		t.Fatalf("-o json: %v\n%s", err, r)
	}
	if rep.Ready != "True" || rep.URL != acme.Status.TenantURL || rep.ActiveTokens != 1 || len(rep.Tokens) != 1 || len(rep.Webhooks) != 1 ||
		rep.Tokens[0].Fingerprint != tok.Status.Fingerprint || rep.Tokens[0].Revision != 1 || rep.Tokens[0].Secret != "acme-entra" {
		t.Fatalf("-o json report: %+v", rep)
	}

	r = kubectlScim(t, "status", "-A", "-o", "yaml")
	var all struct{ Tenants []tenantReport }
	if err := yaml.Unmarshal([]byte(r.out), &all); err != nil || r.code != ExitOK {
		t.Fatalf("-A -o yaml: %v\n%s", err, r)
	}
	found := false
	for _, tr := range all.Tenants {
		found = found || (tr.Namespace == ns && tr.Name == "acme")
	}
	if !found {
		t.Fatalf("-A does not list %s/acme:\n%s", ns, r.out)
	}

	r = kubectlScim(t, "status", "-A", "-o", "wide")
	if r.code != ExitOK || !strings.HasPrefix(r.out, "NAMESPACE") || !strings.Contains(r.out, "REPLICAS") {
		t.Fatalf("-A -o wide:\n%s", r)
	}

	r = kubectlScim(t, "status", "missing", "-n", ns)
	if r.code != ExitError || !strings.Contains(r.errOut, "ScimTenant "+ns+"/missing not found") {
		t.Fatalf("missing tenant:\n%s", r)
	}
	empty := namespace(t)
	r = kubectlScim(t, "status", "-n", empty)
	if r.code != ExitOK || r.out != "" || !strings.Contains(r.errOut, "No ScimTenants in namespace "+empty) {
		t.Fatalf("empty namespace:\n%s", r)
	}
}

// TestTenantReportReadsNewerStatus decodes status fields this plugin's API
// types do not have yet (provisioning counts, last sync and error, last use
// of tokens, webhooks with their lag), as an operator that reports them
// writes them. A narrow unit test: the test API server would prune fields
// its CRDs do not declare.
func TestTenantReportReadsNewerStatus(t *testing.T) {
	obj := func(s string) unstructured.Unstructured {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return unstructured.Unstructured{Object: m}
	}
	tenant := obj(`
apiVersion: scim.operator.dev/v1alpha1
kind: ScimTenant
metadata: {name: acme, namespace: ns}
status:
  tenantURL: https://scim.example.com/acme/scim/v2?aadOptscim062020
  activeTokens: 1
  users: {total: 12, active: 10, inactive: 2}
  groups: {total: 3}
  lastSyncTime: "2026-11-27T10:00:00Z"
  lastClientError: {status: 400, scimType: invalidValue, detail: "emails required", time: "2026-11-27T09:00:00Z"}
  conditions:
  - {type: Ready, status: "True", reason: Available, message: ok, lastTransitionTime: "2026-11-27T08:00:00Z"}
  - {type: Syncing, status: "False", reason: NoRequests, message: "no request for 80m", lastTransitionTime: "2026-11-27T08:00:00Z"}
`)
	token := obj(`
apiVersion: scim.operator.dev/v1alpha1
kind: ScimToken
metadata: {name: acme-entra, namespace: ns}
spec: {tenantRef: {name: acme}}
status:
  revision: 2
  fingerprint: abcdef012345
  previousFingerprint: 0123456789ab
  previousValidUntil: "2026-11-28T10:00:00Z"
  lastUsedAt: "2026-11-27T10:00:00Z"
  previousLastUsedAt: "2026-11-27T09:30:00Z"
`)
	webhook := obj(`
apiVersion: scim.operator.dev/v1alpha1
kind: ScimWebhook
metadata: {name: app, namespace: ns}
spec: {tenantRef: {name: acme}, url: "https://app.example.com/hooks"}
status:
  state: delivering
  lag: 42
  lastDeliveredAt: "2026-11-27T10:01:00Z"
  conditions:
  - {type: Ready, status: "True", reason: Delivering, message: ok, lastTransitionTime: "2026-11-27T08:00:00Z"}
`)
	r, err := buildTenantReport(&tenant, []unstructured.Unstructured{token}, []unstructured.Unstructured{webhook})
	if err != nil {
		t.Fatal(err)
	}
	if *r.Users != 12 || *r.ActiveUsers != 10 || *r.InactiveUsers != 2 || *r.Groups != 3 || r.LastSync == nil || r.LastClientError["scimType"] != "invalidValue" {
		t.Fatalf("tenant counts and times: %+v", r)
	}
	if tr := r.Tokens[0]; tr.Revision != 2 || tr.LastUsed == nil || tr.PreviousLastUsed == nil || tr.Secret != "acme-entra" {
		t.Fatalf("token: %+v", tr)
	}
	if w := r.Webhooks[0]; w.Lag != "42 events" || w.State != "delivering" || w.Ready != "True" || w.URL != "https://app.example.com/hooks" {
		t.Fatalf("webhook: %+v", w)
	}

	var b strings.Builder
	printTenantDetail(&b, &r, time.Date(2026, 11, 27, 10, 20, 0, 0, time.UTC), false)
	for _, want := range []string{"Users:         12 (10 active, 2 inactive)", "Groups:        3", "Last sync:     20m ago",
		"Last error:    400 invalidValue emails required", "Syncing:       False (NoRequests): no request for 80m",
		"abcdef012345", "0123456789ab valid until in 23h, used 50m ago", "Webhooks:", "42 events", "19m ago"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("detail lacks %q:\n%s", want, b.String())
		}
	}
}
