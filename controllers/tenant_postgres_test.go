package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

func TestPostgresSchema(t *testing.T) {
	pg := func(ns, name, schema string) *scimv1alpha1.ScimTenant {
		return &scimv1alpha1.ScimTenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: scimv1alpha1.ScimTenantSpec{Storage: &scimv1alpha1.StorageSpec{Postgres: &scimv1alpha1.PostgresStorage{
				URLSecretRef: scimv1alpha1.SecretKeyRef{Name: "pg-app"}, Schema: schema,
			}}},
		}
	}
	long := strings.Repeat("n", 63)
	tests := []struct {
		name   string
		tenant *scimv1alpha1.ScimTenant
		prefix string
	}{
		{"explicit", pg("team-a", "entra", "identity"), "identity"},
		{"derived", pg("team-a", "entra", ""), "scim_team_a_entra_"},
		{"dots", pg("team.a", "entra.v2", ""), "scim_team_a_entra_v2_"},
		{"long names cut", pg(long, long, ""), "scim_nnnn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := postgresSchema(tc.tenant)
			if !strings.HasPrefix(got, tc.prefix) {
				t.Errorf("schema %q, want prefix %q", got, tc.prefix)
			}
			if err := postgres.ValidSchema(got); err != nil {
				t.Errorf("the server would refuse it: %v", err)
			}
		})
	}
	if a, b := postgresSchema(pg("a-b", "c", "")), postgresSchema(pg("a", "b-c", "")); a == b {
		t.Errorf("two tenants share schema %s", a)
	}
}

// TestTenantPostgres: a storage.postgres tenant is served (no InvalidSpec
// refusal) by spec.replicas pods rolled out one by one, with the URL's
// Secret key mounted as a file, its schema derived, and no volume claim.
func TestTenantPostgres(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	tenant := newTenant(ns, "acme")
	tenant.Spec.Replicas = ptr.To[int32](2)
	tenant.Spec.Storage = &scimv1alpha1.StorageSpec{Postgres: &scimv1alpha1.PostgresStorage{
		URLSecretRef: scimv1alpha1.SecretKeyRef{Name: "pg-main-app", Key: "uri"}, // CloudNativePG's <cluster>-app Secret
	}}
	mustCreate(t, tenant)

	dep := &appsv1.Deployment{}
	eventually(t, 30*time.Second, func() error { return get(t, dep, ns, "acme-scim") })
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	args := strings.Join(c.Args, " ")
	var db *corev1.Volume
	for i, v := range spec.Volumes {
		if v.Name == "db" {
			db = &spec.Volumes[i]
		}
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s claims %s: postgres tenants keep nothing on a volume", v.Name, v.PersistentVolumeClaim.ClaimName)
		}
	}
	checks := map[string]bool{
		"two replicas":          *dep.Spec.Replicas == 2,
		"rolling update":        dep.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType,
		"url file arg":          strings.Contains(args, "--postgres-url-file=/etc/scim/db/url"),
		"derived schema arg":    strings.Contains(args, "--postgres-schema=scim_"+identifier(ns)+"_acme_"),
		"no sqlite arg":         !strings.Contains(args, "--database"),
		"no env (URL)":          len(c.Env) == 0,
		"secret key as file":    db != nil && db.Secret != nil && db.Secret.SecretName == "pg-main-app" && len(db.Secret.Items) == 1 && db.Secret.Items[0].Key == "uri" && db.Secret.Items[0].Path == "url",
		"secret mounted":        hasMount(c.VolumeMounts, "db", "/etc/scim/db"),
		"spread across nodes":   len(spec.TopologySpreadConstraints) == 1 && spec.TopologySpreadConstraints[0].TopologyKey == corev1.LabelHostname,
		"no sqlite data volume": !hasMount(c.VolumeMounts, "data", dataDir),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("deployment: %s: not as expected\n%s", name, toJSON(dep.Spec))
		}
	}
	if err := get(t, &corev1.PersistentVolumeClaim{}, ns, "acme-scim-data"); !apierrors.IsNotFound(err) {
		t.Errorf("a postgres tenant got a volume claim: %v", err)
	}
	var got scimv1alpha1.ScimTenant
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &got, ns, "acme"); err != nil {
			return err
		}
		if want := "postgres schema " + postgresSchema(&got); got.Status.Storage != want {
			return fmt.Errorf("status.storage %q, want %q", got.Status.Storage, want)
		}
		return nil
	})
	for _, c := range got.Status.Conditions {
		if c.Reason == scimv1alpha1.ReasonInvalidSpec {
			t.Errorf("postgres tenant refused: %+v", c)
		}
	}

	// Two replicas: a budget keeps one up through drains.
	pdb := &policyv1.PodDisruptionBudget{}
	eventually(t, 30*time.Second, func() error { return get(t, pdb, ns, "acme-scim") })
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
		pdb.Spec.Selector.MatchLabels[LabelInstance] != "acme" || !metav1.IsControlledBy(pdb, &got) {
		t.Errorf("budget: %s", toJSON(pdb))
	}
	// One replica: a budget would block every node drain; it goes.
	orig := got.DeepCopy()
	got.Spec.Replicas = ptr.To[int32](1)
	if err := k8s.Patch(context.Background(), &got, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &policyv1.PodDisruptionBudget{}, ns, "acme-scim"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("budget still there (%v)", err)
		}
		return nil
	})
}
