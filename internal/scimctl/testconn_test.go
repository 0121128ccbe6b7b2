package scimctl

import (
	"encoding/json"
	"strings"
	"testing"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestTestConnectionThroughLocalIngress runs Entra's Test Connection as the
// README tells a make demo user to: through the local ingress with the
// tenant's host header, with the token the operator issued.
func TestTestConnectionThroughLocalIngress(t *testing.T) {
	ns := namespace(t)
	acme, _ := tenantWithToken(t, ns, "acme")
	usersOnly, _ := tenantWithToken(t, ns, "hr", scimv1alpha1.ResourceTypeUser)

	r := kubectlScim(t, "test-connection", "acme", "-n", ns, "--url", localURL(acme), "--host-header", host)
	if r.code != ExitOK || !strings.Contains(r.out, "PASS") {
		t.Fatalf("want PASS:\n%s", r)
	}
	for _, want := range []string{`GET /Users?filter=userName eq "`, `GET /Groups?`, "excludedAttributes=members", "200 OK", "ScimToken acme-entra"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}

	r = kubectlScim(t, "test-connection", "hr", "-n", ns, "--url", localURL(usersOnly)+"?aadOptscim062020", "--host-header", host, "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("users-only tenant:\n%s", r)
	}
	var v verdict
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.out)
	}
	if v.Verdict != "PASS" || len(v.Probes) != 1 || !strings.HasPrefix(v.Probes[0].Request, "/Users?") || v.Probes[0].Status != 200 {
		t.Fatalf("a tenant without groups gets the user probe only: %+v", v)
	}
}

// TestTestConnectionFails checks each FAIL says what was wrong and what to
// do, with exit code 1.
func TestTestConnectionFails(t *testing.T) {
	ns := namespace(t)
	acme, _ := tenantWithToken(t, ns, "acme")
	other, _ := tenantWithToken(t, ns, "other")

	for _, tc := range []struct {
		name     string
		args     []string
		problem  string
		whatToDo string
	}{{
		name:     "another tenant's token is refused",
		args:     []string{"--url", localURL(other), "--host-header", host},
		problem:  "the server refused the token (401",
		whatToDo: "Secret Token field",
	}, {
		name:     "wrong host: the ingress has no rule",
		args:     []string{"--url", localURL(acme), "--host-header", "wrong.example.test"},
		problem:  "no SCIM endpoint at /Users (404",
		whatToDo: "status.tenantURL",
	}, {
		name:     "path without /scim/v2 reaches the server outside its base path",
		args:     []string{"--url", "http://" + rt.ServerAddr(ns, "acme-scim") + "/" + ns + "/acme"},
		problem:  "no SCIM endpoint at /Users (404: no SCIM endpoint at /" + ns + "/acme/Users",
		whatToDo: "ending in /scim/v2",
	}, {
		name:     "nothing listens",
		args:     []string{"--url", "http://127.0.0.1:1/scim/v2"},
		problem:  "no answer from 127.0.0.1:1",
		whatToDo: "kubectl scim status",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := kubectlScim(t, append([]string{"test-connection", "acme", "-n", ns}, tc.args...)...)
			if r.code != ExitError || !strings.Contains(r.out, "FAIL: "+tc.problem) || !strings.Contains(r.out, "What to do: ") || !strings.Contains(r.out, tc.whatToDo) {
				t.Fatalf("want FAIL %q with %q:\n%s", tc.problem, tc.whatToDo, r)
			}
		})
	}
}

// TestTestConnectionWithoutPods is the default path (a port-forward) where
// there are no Pods, as in the local run: the error says to use --url.
func TestTestConnectionWithoutPods(t *testing.T) {
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	r := kubectlScim(t, "test-connection", "acme", "-n", ns)
	if r.code != ExitError || !strings.Contains(r.errOut, "no ready pod behind Service "+ns+"/acme-scim") || !strings.Contains(r.errOut, "--url") {
		t.Fatalf("want the no-pod error naming --url:\n%s", r)
	}
	r = kubectlScim(t, "test-connection", "nope", "-n", ns)
	if r.code != ExitError || !strings.Contains(r.errOut, "ScimTenant "+ns+"/nope not found") {
		t.Fatalf("missing tenant:\n%s", r)
	}
}
