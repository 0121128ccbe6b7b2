package scimctl

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// TestStatusShowsReportedProvisioning writes the provisioning fields to the
// status subresources, as the operator does from the servers' reports, and
// reads them back through the plugin.
func TestStatusShowsReportedProvisioning(t *testing.T) {
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	ctx := context.Background()
	groups := int64(3)
	// The operator keeps reporting the server's own numbers: retry until
	// ours are the last written (the local server has none of these users).
	eventually(t, time.Minute, func() error {
		// The ages are shown relative to the time of the read.
		now := time.Now().UTC().Truncate(time.Second)
		tenant := &scimv1alpha1.ScimTenant{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "acme"}, tenant); err != nil {
			return err
		}
		tenant.Status.Users = &scimv1alpha1.UserCounts{Total: 12, Active: 10, Inactive: 2}
		tenant.Status.Groups = &groups
		tenant.Status.LastRequestTime = &metav1.Time{Time: now.Add(-20 * time.Minute)}
		tenant.Status.LastClientError = &scimv1alpha1.ClientError{Status: 400, ScimType: "invalidValue", Detail: "emails required", Time: metav1.Time{Time: now.Add(-time.Hour)}}
		meta.SetStatusCondition(&tenant.Status.Conditions, metav1.Condition{Type: scimv1alpha1.ConditionSyncing, Status: metav1.ConditionFalse, Reason: "NoRequests", Message: "no request for 20m"})
		if err := k8s.Status().Update(ctx, tenant); err != nil {
			return err
		}
		tok := &scimv1alpha1.ScimToken{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "acme-entra"}, tok); err != nil {
			return err
		}
		tok.Status.Revision = 2
		tok.Status.PreviousFingerprint = "0123456789ab"
		tok.Status.PreviousValidUntil = &metav1.Time{Time: now.Add(24 * time.Hour)}
		tok.Status.LastUsedTime = &metav1.Time{Time: now.Add(-5 * time.Minute)}
		tok.Status.LastUsedRevision = 2
		tok.Status.PreviousLastUsedTime = &metav1.Time{Time: now.Add(-50 * time.Minute)}
		if err := k8s.Status().Update(ctx, tok); err != nil {
			return err
		}
		// Read back at once, in the same attempt: the operator's poller
		// rewrites these fields (Syncing among them) from the real server's
		// report a moment later, so a later read could see its values.
		r := kubectlScim(t, "status", "acme", "-n", ns, "-o", "json")
		var rep tenantReport
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			return errorf("-o json: %v\n%s", err, r)
		}
		if rep.Users == nil || *rep.Users != 12 || rep.Tokens[0].Switched != "yes" {
			return errorf("not our status yet: %+v", rep)
		}
		r = kubectlScim(t, "status", "acme", "-n", ns)
		for _, want := range []string{"Users:         12 (10 active, 2 inactive)", "Groups:        3", "Last sync:     20m ago",
			"Last error:    400 invalidValue emails required (60m ago)", "Syncing:       False (NoRequests): no request for 20m",
			"SWITCHED", "0123456789ab valid until in 23h, used 50m ago"} {
			if !strings.Contains(r.out, want) {
				return errorf("status acme lacks %q:\n%s", want, r)
			}
		}
		if !regexp.MustCompile(`(?m)^  acme-entra\s.*\s5m ago\s+yes\s`).MatchString(r.out) {
			return errorf("token line lacks last use and switch:\n%s", r)
		}
		r = kubectlScim(t, "status", "-n", ns)
		if f := strings.Fields(strings.Split(r.out, "\n")[1]); len(f) < 10 || f[5] != "12" || f[6] != "3" || f[7] != "20m" || f[9] != "False" {
			return errorf("table line: %q\n%s", f, r)
		}
		return nil
	})
}

func TestSwitched(t *testing.T) {
	at := func(m int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 11, 27, 10, m, 0, 0, time.UTC)} }
	for _, c := range []struct {
		name string
		st   scimv1alpha1.ScimTokenStatus
		want string
	}{
		{"never rotated", scimv1alpha1.ScimTokenStatus{Revision: 1, LastUsedTime: at(1), LastUsedRevision: 1}, ""},
		{"rotated, nothing used", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p"}, ""},
		{"still the previous token", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p", PreviousLastUsedTime: at(5)}, "no"},
		{"current used before previous", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p", LastUsedTime: at(1), LastUsedRevision: 2, PreviousLastUsedTime: at(5)}, "no"},
		{"switched", scimv1alpha1.ScimTokenStatus{Revision: 2, PreviousFingerprint: "p", LastUsedTime: at(6), LastUsedRevision: 2, PreviousLastUsedTime: at(5)}, "yes"},
		{"use of an older revision", scimv1alpha1.ScimTokenStatus{Revision: 3, PreviousFingerprint: "p", LastUsedTime: at(6), LastUsedRevision: 2}, ""},
	} {
		if got := switched(&c.st); got != c.want {
			t.Errorf("%s: switched = %q, want %q", c.name, got, c.want)
		}
	}
}
