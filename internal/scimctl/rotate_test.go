package scimctl

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// TestRotateWait rotates a token with --wait --show-token: the printed token
// is the new revision's, the tenant's server accepts it, and the previous
// token still works in its grace window.
func TestRotateWait(t *testing.T) {
	ns := namespace(t)
	acme, tok := tenantWithToken(t, ns, "acme")
	old := secretToken(t, ns, "acme-entra")

	r := kubectlScim(t, "rotate", "acme-entra", "-n", ns, "--wait", "--show-token", "--timeout", "1m")
	if r.code != ExitOK {
		t.Fatalf("rotate --wait:\n%s", r)
	}
	got := &scimv1alpha1.ScimToken{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(tok), got); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	printed := lines[len(lines)-1]
	if got.Status.Revision != 2 || auth.Hash(printed) != got.Status.Hash || printed == old {
		t.Fatalf("want revision 2 and its token printed last; status %+v\n%s", got.Status, r)
	}
	for _, want := range []string{"scimtoken/acme-entra rotated: revision 2, fingerprint " + got.Status.Fingerprint,
		"The previous token " + tok.Status.Fingerprint + " keeps working until"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	eventually(t, time.Minute, func() error { return serves(ns, "acme", printed) })
	if err := serves(ns, "acme", old); err != nil {
		t.Fatalf("the previous token must work in its grace window: %v", err)
	}
	// The plugin then finds the new token in the Secret, as Entra's admin would.
	if r := kubectlScim(t, "test-connection", "acme", "-n", ns, "--url", localURL(acme), "--host-header", host); r.code != ExitOK {
		t.Fatalf("test-connection with the rotated token:\n%s", r)
	}
}

func TestRotateWithoutWait(t *testing.T) {
	ns := namespace(t)
	_, tok := tenantWithToken(t, ns, "acme")
	r := kubectlScim(t, "rotate", "acme-entra", "-n", ns)
	if r.code != ExitOK || !strings.Contains(r.out, "scimtoken/acme-entra rotation requested") || strings.Contains(r.out, secretToken(t, ns, "acme-entra")) {
		t.Fatalf("rotate:\n%s", r)
	}
	got := &scimv1alpha1.ScimToken{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(tok), got); err != nil {
		t.Fatal(err)
	}
	if got.Annotations[scimv1alpha1.RotateAnnotation] == "" {
		t.Fatalf("no %s annotation: %v", scimv1alpha1.RotateAnnotation, got.Annotations)
	}
	eventually(t, time.Minute, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(tok), got); err != nil {
			return err
		}
		if got.Status.Revision != 2 {
			return errorf("revision %d", got.Status.Revision)
		}
		return nil
	})

	// A revoked token is not rotated: the error says what to do.
	got.Spec.Revoked = true
	if err := k8s.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	r = kubectlScim(t, "rotate", "acme-entra", "-n", ns, "--wait")
	if r.code != ExitError || !strings.Contains(r.errOut, "is revoked") {
		t.Fatalf("revoked:\n%s", r)
	}
	r = kubectlScim(t, "rotate", "nope", "-n", ns)
	if r.code != ExitError || !strings.Contains(r.errOut, "ScimToken "+ns+"/nope not found") {
		t.Fatalf("missing token:\n%s", r)
	}
}

// TestRotateWaitTimesOut: a token of a tenant the operator cannot serve
// (no tenant) never gets a new revision; --wait says what it waited for.
func TestRotateWaitTimesOut(t *testing.T) {
	ns := namespace(t)
	tok := &scimv1alpha1.ScimToken{}
	tok.Namespace, tok.Name = ns, "orphan"
	tok.Spec.TenantRef.Name = "absent"
	if err := k8s.Create(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	r := kubectlScim(t, "rotate", "orphan", "-n", ns, "--wait", "--timeout", "1s")
	if r.code != ExitError || !strings.Contains(r.errOut, "timed out after 1s") || !strings.Contains(r.errOut, "kubectl describe scimtoken orphan") {
		t.Fatalf("want a timeout naming what is missing:\n%s", r)
	}
}
