package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// A tenant whose image is outside the allow-list (by default the repository
// of the operator's own server image) gets Ready=False ImageNotAllowed and
// nothing rolled out; a tenant that switches to such an image keeps running
// its previous one.
func TestTenantImageNotAllowed(t *testing.T) {
	ns := namespace(t)
	defer startManagerWith(t, []string{ns}, Options{DefaultImage: "ghcr.io/scim-operator/scim-operator:v1"})()

	bad := newTenant(ns, "miner")
	bad.Spec.Image = "docker.io/evil/miner:latest"
	mustCreate(t, bad)
	c := tenantCondition(t, ns, "miner", "Ready", "False", scimv1alpha1.ReasonImageNotAllowed)
	if !strings.Contains(c.Message, "ghcr.io/scim-operator/scim-operator") || !strings.Contains(c.Message, "docker.io/evil/miner") {
		t.Errorf("message does not name the image and the allowed repositories: %s", c.Message)
	}
	tenantCondition(t, ns, "miner", "Progressing", "False", scimv1alpha1.ReasonImageNotAllowed)
	for _, name := range []string{"miner-scim", "miner-scim-config", "miner-scim-data"} {
		if err := get(t, &appsv1.Deployment{}, ns, name); err == nil {
			t.Errorf("%s was created for a refused image", name)
		}
	}

	// Another tag of the operator's repository is allowed...
	good := newTenant(ns, "pinned")
	good.Spec.Image = "ghcr.io/scim-operator/scim-operator:v2"
	mustCreate(t, good)
	dep := &appsv1.Deployment{}
	eventually(t, 30*time.Second, func() error { return get(t, dep, ns, "pinned-scim") })
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/scim-operator/scim-operator:v2" {
		t.Fatalf("image %s", img)
	}
	// ...and switching it to a foreign image rolls nothing out.
	updateTenant(t, ns, "pinned", func(u *scimv1alpha1.ScimTenant) { u.Spec.Image = "ghcr.io/scim-operator/scim-operator-fork:v2" })
	tenantCondition(t, ns, "pinned", "Ready", "False", scimv1alpha1.ReasonImageNotAllowed)
	if err := get(t, dep, ns, "pinned-scim"); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/scim-operator/scim-operator:v2" {
		t.Errorf("a refused image was rolled out: %s", img)
	}

	// The server it still runs keeps following its tokens: a token issued
	// now is accepted, and revoking it removes it again.
	mustCreate(t, newToken(ns, "entra", "pinned"))
	tokenCount := func(want int) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			file, err := tokenFileOf(t, ns, "pinned")
			if err != nil {
				return err
			}
			if len(file.Tokens) != want {
				return fmt.Errorf("token file holds %d tokens, want %d", len(file.Tokens), want)
			}
			return nil
		})
	}
	tokenCount(1)
	revoke := &scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "entra"}}
	if err := k8s.Patch(context.Background(), revoke, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`))); err != nil {
		t.Fatal(err)
	}
	tokenCount(0)
	// A refused tenant that never ran gets no token file.
	if _, err := tokenFileOf(t, ns, "miner"); err == nil {
		t.Error("a tenant that never ran got a token file")
	}
}
