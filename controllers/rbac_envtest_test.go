package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/test/testenv"
)

// The manager does its whole job with exactly the permissions its installs
// grant (envtest's API server authorizes with RBAC): the namespaced Roles of
// config/namespaced and nothing cluster-wide, or the generated ClusterRole.
// A verb missing from the installed RBAC fails these tests; an extra one
// fails TestRBACMatchesDocumentedPermissions.
func TestManagerWorksWithNamespacedRoles(t *testing.T) {
	nsA, nsB := namespace(t), namespace(t)
	rules := installedRules(t, "namespaced", "watched", "role.yaml")
	cfg := operatorUser(t, "namespaced-operator")
	for _, ns := range []string{nsA, nsB} {
		mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manager"}, Rules: rules})
		mustCreate(t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manager"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "manager"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "namespaced-operator"}},
		})
	}
	// RBAC is enforced: the operator's user cannot read Secrets elsewhere.
	other := namespace(t)
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(context.Background(), &corev1.SecretList{}, client.InNamespace(other)); !apierrors.IsForbidden(err) {
		t.Fatalf("listing Secrets in an unwatched namespace: %v, want Forbidden", err)
	}
	// Leader election in the operator's own namespace, with the installed
	// leader-election Role: the reconcilers run only once the Lease is won.
	operatorNS := namespace(t)
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "leader-election"},
		Rules: installedRules(t, "rbac", "common", "leader_election_role.yaml")})
	mustCreate(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "leader-election"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "leader-election"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "namespaced-operator"}},
	})
	stop := startManagerAs(t, cfg, []string{nsA, nsB}, Options{OperatorNamespace: operatorNS}, func(o *ctrl.Options) {
		o.LeaderElection, o.LeaderElectionNamespace, o.LeaderElectionID = true, operatorNS, "scim-operator.scim.operator.dev"
		o.LeaderElectionReleaseOnCancel = true
	})
	exerciseEveryPermission(t, nsA)
	exerciseEveryPermission(t, nsB)
	stop()

	lease := &coordinationv1.Lease{}
	if err := get(t, lease, operatorNS, "scim-operator.scim.operator.dev"); err != nil {
		t.Fatalf("no leader election Lease: %v", err)
	}
	// Released on shutdown (an update): another replica can take over at once.
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "" {
		t.Errorf("Lease still held by %q after the manager stopped", h)
	}
}

func TestManagerWorksWithClusterRole(t *testing.T) {
	ns := namespace(t)
	rules := installedRules(t, "rbac", "role.yaml")
	cfg := operatorUser(t, "cluster-operator")
	name := "test-manager-" + ns
	mustCreate(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
	mustCreate(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "cluster-operator"}},
	})
	defer startManagerAs(t, cfg, []string{ns}, Options{})()
	exerciseEveryPermission(t, ns)
}

// installedRules reads the rules of the (Cluster)Role in a file under config/.
func installedRules(t *testing.T, path ...string) []rbacv1.PolicyRule {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(append([]string{root, "config"}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	roles, _, _ := loadRBACDocs(t, filepath.Join(path...), raw)
	if len(roles) != 1 {
		t.Fatalf("%v: want one role, found %d", path, len(roles))
	}
	return roles[0].Rules
}

// operatorUser is a user of the test API server with no permissions yet.
func operatorUser(t *testing.T, name string) *rest.Config {
	t.Helper()
	u, err := env.Env.AddUser(envtest.User{Name: name}, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := u.Config()
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

// exerciseEveryPermission drives the reconcilers through every kind of write
// they make: creating each owned object, issuing a token into its Secret,
// patching statuses, and deleting an Ingress and a NetworkPolicy.
func exerciseEveryPermission(t *testing.T, ns string) {
	t.Helper()
	tenant := ingressTenant(ns, "acme", ns+".example.com", "")
	tenant.Spec.NetworkPolicy = &scimv1alpha1.NetworkPolicySpec{}
	mustCreate(t, tenant)
	mustCreate(t, newToken(ns, "entra", "acme"))
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{}} {
		eventually(t, 30*time.Second, func() error { return get(t, obj, ns, "acme-scim") })
	}
	eventually(t, 30*time.Second, func() error { return get(t, &corev1.ConfigMap{}, ns, "acme-scim-config") })
	eventually(t, 30*time.Second, func() error { return get(t, &corev1.PersistentVolumeClaim{}, ns, "acme-scim-data") })
	eventually(t, 30*time.Second, func() error {
		s := &corev1.Secret{}
		if err := get(t, s, ns, "entra"); err != nil {
			return err
		}
		if len(s.Data[scimv1alpha1.SecretKeyToken]) == 0 {
			return fmt.Errorf("token Secret has no token")
		}
		if err := auth.ValidTokenFormat(string(s.Data[scimv1alpha1.SecretKeyToken])); err != nil {
			t.Fatalf("issued token: %v", err)
		}
		file, err := tokenFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		if len(file.Tokens) != 1 {
			return fmt.Errorf("token file has %d tokens", len(file.Tokens))
		}
		var tok scimv1alpha1.ScimToken
		if err := get(t, &tok, ns, "entra"); err != nil {
			return err
		}
		return wantCondition(tok.Status.Conditions, "Ready", "True", scimv1alpha1.ReasonIssued)
	})
	tenantCondition(t, ns, "acme", "Ready", "False", scimv1alpha1.ReasonVolumePending)

	updateTenant(t, ns, "acme", func(u *scimv1alpha1.ScimTenant) {
		u.Spec.Ingress = nil
		u.Spec.NetworkPolicy.Enabled = ptr.To(false)
	})
	noIngress(t, ns, "acme")
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &networkingv1.NetworkPolicy{}, ns, "acme-scim"); err == nil {
			return fmt.Errorf("NetworkPolicy still there")
		}
		return nil
	})
}
