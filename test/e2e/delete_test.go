package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
)

// TestDeletingATenantKeepsItsData deletes a tenant: everything it owned is
// garbage-collected and its server stops, but the sqlite volume is
// retained, so a tenant re-created with the same name still has its users.
func TestDeletingATenantKeepsItsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	apply(t, "deletable.yaml")
	tn := readyTenant(t, "e2e-deleted", "e2e-deleted-entra")
	upn := "kept@contoso.com"
	id := tn.expect(t, tn.token(t), http.MethodPost, "/Users", entraUser(upn, "kept", false), 201).body["id"].(string)

	// What the tenant owns, found by its label, each controlled by the tenant.
	sel := client.MatchingLabels{controllers.LabelTenant: tn.name}
	var owned []client.Object
	for _, list := range []client.ObjectList{
		&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.ServiceAccountList{}, &networkingv1.IngressList{},
	} {
		if err := k8s.List(ctx, list, client.InNamespace(ns), sel); err != nil {
			t.Fatal(err)
		}
		owned = append(owned, items(t, list)...)
	}
	tokenFile := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: tn.name + "-scim-tokens"}, tokenFile); err != nil {
		t.Fatalf("the tenant's token file Secret: %v", err)
	}
	owned = append(owned, tokenFile)
	if len(owned) != 6 {
		t.Fatalf("want a Deployment, Service, ConfigMap, ServiceAccount, Ingress and token-file Secret, found %d objects", len(owned))
	}
	for _, o := range owned {
		if ref := metav1.GetControllerOf(o); ref == nil || ref.Kind != "ScimTenant" || string(ref.UID) != tn.uid {
			t.Fatalf("%T %s is not controlled by ScimTenant %s: %v", o, o.GetName(), tn.name, o.GetOwnerReferences())
		}
	}
	var claims corev1.PersistentVolumeClaimList
	if err := k8s.List(ctx, &claims, client.InNamespace(ns), sel); err != nil || len(claims.Items) != 1 {
		t.Fatalf("want one data claim: %d, %v", len(claims.Items), err)
	}
	claim := claims.Items[0]
	if len(claim.OwnerReferences) != 0 {
		t.Fatalf("a retained claim must have no owner: %v", claim.OwnerReferences)
	}
	db := filepath.Join(rt.VolumeDir(ns, claim.Name), "scim.db")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the database is not on the claim's volume: %v", err)
	}

	// Delete the tenant as kubectl delete does (background propagation).
	st := &scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tn.name}}
	if err := k8s.Delete(ctx, st, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the tenant's objects garbage-collected", func() string {
		for _, o := range owned {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
			if !apierrors.IsNotFound(err) {
				return o.GetName() + " still exists"
			}
		}
		return ""
	})
	eventually(t, 30*time.Second, "the server stopped and unrouted", func() string {
		if addr := rt.ServerAddr(ns, tn.name+"-scim"); addr != "" {
			return "server still runs on " + addr
		}
		if s := tn.call(t, tn.token(t), http.MethodGet, "/Users", nil).status; s != http.StatusNotFound && s != http.StatusServiceUnavailable {
			return "ingress still answers " + http.StatusText(s)
		}
		return ""
	})
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(&claim), &corev1.PersistentVolumeClaim{}); err != nil {
		t.Fatalf("the retained claim is gone: %v", err)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the retained database is gone: %v", err)
	}

	// Re-created with the same name, the tenant finds its users again.
	apply(t, "deletable.yaml")
	again := readyTenant(t, "e2e-deleted", "e2e-deleted-entra")
	if again.uid == tn.uid {
		t.Fatal("the tenant was not re-created")
	}
	var r response
	eventually(t, 30*time.Second, "re-created tenant answers", func() string {
		r = again.call(t, again.token(t), http.MethodGet, "/Users?filter="+eqFilter("userName", upn), nil)
		if r.status != http.StatusOK {
			return http.StatusText(r.status)
		}
		return ""
	})
	if listLen(t, r) != 1 || get(r.body, "Resources", 0, "id") != id {
		t.Fatalf("user %s not kept across the tenant's re-creation: %s", id, r.raw)
	}
}

func items(t *testing.T, list client.ObjectList) []client.Object {
	t.Helper()
	var out []client.Object
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceAccountList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *networkingv1.IngressList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}
