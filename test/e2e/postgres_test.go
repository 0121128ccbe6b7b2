package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// TestEntraProvisioningPostgres runs the whole Entra cycle, groups and a
// token rotation included, against a storage.postgres tenant: the URL in
// a Secret key (as CloudNativePG's <cluster>-app Secret has it, under
// uri), mounted into the server's pod by the operator. One replica; two,
// with one killed mid-cycle, is TestEntraProvisioningPostgresReplicas.
func TestEntraProvisioningPostgres(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.Schema(t)
	ctx := context.Background()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2e-pg-app"},
		StringData: map[string]string{"uri": url},
	}
	tenant := &scimv1alpha1.ScimTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2e-pg"},
		Spec: scimv1alpha1.ScimTenantSpec{
			ResourceTypes: []scimv1alpha1.ResourceType{"User", "Group"},
			Ingress:       &scimv1alpha1.IngressSpec{Host: "pg.e2e.example.com"},
			Storage: &scimv1alpha1.StorageSpec{Postgres: &scimv1alpha1.PostgresStorage{
				URLSecretRef: scimv1alpha1.SecretKeyRef{Name: "e2e-pg-app", Key: "uri"}, Schema: schema,
			}},
		},
	}
	token := &scimv1alpha1.ScimToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2e-pg-entra"},
		Spec: scimv1alpha1.ScimTokenSpec{
			TenantRef: scimv1alpha1.TenantReference{Name: "e2e-pg"},
			Rotation:  &scimv1alpha1.RotationSpec{GracePeriod: &metav1.Duration{Duration: time.Hour}},
		},
	}
	for _, obj := range []client.Object{secret, tenant, token} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	tn := readyTenant(t, "e2e-pg", "e2e-pg-entra")
	entraCycle(t, tn, "e2e-pg-entra", true)
}
