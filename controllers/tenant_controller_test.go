package controllers

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// testLogger is silent unless TEST_LOG=1.
func testLogger() logr.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("TEST_LOG") != "" {
		w = os.Stderr
	}
	return zap.New(zap.UseDevMode(true), zap.WriteTo(w))
}

func TestTenantOwnedObjects(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	tenant := newTenant(ns, "acme")
	tenant.Spec = scimv1alpha1.ScimTenantSpec{
		ResourceTypes: []scimv1alpha1.ResourceType{"User"},
		Ingress: &scimv1alpha1.IngressSpec{
			Host: "scim.example.com", Path: "/apps/acme", IngressClassName: ptr.To("nginx"),
			TLS:         &scimv1alpha1.IngressTLS{SecretName: "scim-tls"},
			Annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
		},
		Schema: &scimv1alpha1.SchemaSpec{
			RequiredUserAttributes: []string{"name.givenName"},
			Extensions: []scimv1alpha1.SchemaExtension{{
				URN:        "urn:acme:2.0:User",
				Attributes: []scimv1alpha1.ExtensionAttribute{{Name: "badge", Type: "string"}},
			}},
		},
		RateLimit: &scimv1alpha1.RateLimitSpec{RequestsPerSecond: 40},
		Events:    &scimv1alpha1.EventsSpec{Retention: &metav1.Duration{Duration: 48 * time.Hour}},
		PodTemplate: &scimv1alpha1.PodTemplateOverrides{
			Labels: map[string]string{"team": "identity"}, NodeSelector: map[string]string{"pool": "system"},
		},
	}
	mustCreate(t, tenant)

	const url = "https://scim.example.com/apps/acme/scim/v2"
	dep := &appsv1.Deployment{}
	eventually(t, 30*time.Second, func() error {
		// The Ingress is applied last.
		if err := get(t, &networkingv1.Ingress{}, ns, "acme-scim"); err != nil {
			return err
		}
		return get(t, dep, ns, "acme-scim")
	})

	t.Run("deployment", func(t *testing.T) {
		spec := dep.Spec.Template.Spec
		c := spec.Containers[0]
		checks := map[string]bool{
			"default image":                  c.Image == "scim-operator:test",
			"recreate for sqlite":            dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType,
			"one replica":                    *dep.Spec.Replicas == 1,
			"non-root":                       *spec.SecurityContext.RunAsNonRoot && *c.SecurityContext.RunAsNonRoot,
			"read-only root":                 *c.SecurityContext.ReadOnlyRootFilesystem,
			"no privilege escalation":        !*c.SecurityContext.AllowPrivilegeEscalation,
			"drops all capabilities":         len(c.SecurityContext.Capabilities.Drop) == 1 && c.SecurityContext.Capabilities.Drop[0] == "ALL",
			"RuntimeDefault seccomp":         spec.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
			"no API token":                   !*spec.AutomountServiceAccountToken,
			"readiness probe":                c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz",
			"liveness probe":                 c.LivenessProbe != nil && c.LivenessProbe.HTTPGet.Path == "/healthz",
			"config hash":                    dep.Spec.Template.Annotations[AnnotationConfigHash] != "",
			"pod labels merged":              dep.Spec.Template.Labels["team"] == "identity" && dep.Spec.Template.Labels[LabelInstance] == "acme",
			"node selector":                  spec.NodeSelector["pool"] == "system",
			"database arg":                   strings.Contains(strings.Join(c.Args, " "), "--database=/var/lib/scim/scim.db"),
			"default resources":              c.Resources.Limits.Memory().String() == "256Mi",
			"service account":                spec.ServiceAccountName == "acme-scim",
			"controlled by tenant":           metav1.IsControlledBy(dep, tenant) || ownerIs(dep, "acme"),
			"no subPath mounts":              !hasSubPath(c.VolumeMounts),
			"token dir mounted as directory": hasMount(c.VolumeMounts, "tokens", tokensDir),
		}
		for name, ok := range checks {
			if !ok {
				t.Errorf("deployment: %s: not as expected\n%s", name, toJSON(dep.Spec))
			}
		}
	})

	t.Run("config", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		if err := get(t, cm, ns, "acme-scim-config"); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse([]byte(cm.Data[config.FileName]))
		if err != nil {
			t.Fatalf("the server would refuse its config: %v", err)
		}
		if cfg.ExternalURL != url || cfg.BasePath != "/apps/acme/scim/v2" || cfg.Groups {
			t.Errorf("config = %+v", cfg)
		}
		if len(cfg.Extensions) != 1 || cfg.Extensions[0].Attributes[0].Name != "badge" || cfg.RequiredUserAttributes[0] != "name.givenName" {
			t.Errorf("schema not carried over: %+v", cfg)
		}
		if cfg.RateLimit == nil || cfg.RateLimit.RequestsPerSecond != 40 || cfg.RateLimit.Burst != 80 {
			t.Errorf("rate limit = %+v, want 40/s burst 80", cfg.RateLimit)
		}
		if cfg.EventRetention() != 48*time.Hour {
			t.Errorf("events retention = %s, want 48h", cfg.EventRetention())
		}
	})

	t.Run("service, ingress, account, volume, token file", func(t *testing.T) {
		svc := &corev1.Service{}
		if err := get(t, svc, ns, "acme-scim"); err != nil || svc.Spec.Ports[0].Port != 80 || svc.Spec.Selector[LabelInstance] != "acme" {
			t.Errorf("service: %v %s", err, toJSON(svc.Spec))
		}
		ing := &networkingv1.Ingress{}
		if err := get(t, ing, ns, "acme-scim"); err != nil {
			t.Fatal(err)
		}
		rule := ing.Spec.Rules[0]
		if rule.Host != "scim.example.com" || rule.HTTP.Paths[0].Path != "/apps/acme/scim/v2" || *ing.Spec.IngressClassName != "nginx" ||
			ing.Spec.TLS[0].SecretName != "scim-tls" || ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" ||
			ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "4m" {
			t.Errorf("ingress: %s %v", toJSON(ing.Spec), ing.Annotations)
		}
		sa := &corev1.ServiceAccount{}
		if err := get(t, sa, ns, "acme-scim"); err != nil || *sa.AutomountServiceAccountToken {
			t.Errorf("service account: %v", err)
		}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := get(t, pvc, ns, "acme-scim-data"); err != nil {
			t.Fatal(err)
		}
		if len(pvc.OwnerReferences) != 0 {
			t.Errorf("retained volume has owner references %v: deleting the tenant would delete the users", pvc.OwnerReferences)
		}
		if pvc.Spec.Resources.Requests.Storage().String() != "1Gi" {
			t.Errorf("pvc size %s", pvc.Spec.Resources.Requests.Storage())
		}
		file, err := tokenFileOf(t, ns, "acme")
		if err != nil || len(file.Tokens) != 0 {
			t.Errorf("token file before any token: %v %+v", err, file)
		}
		for _, obj := range []client.Object{svc, ing, sa, &corev1.ConfigMap{}, &corev1.Secret{}} {
			name := "acme-scim"
			switch obj.(type) {
			case *corev1.ConfigMap:
				name = "acme-scim-config"
			case *corev1.Secret:
				name = "acme-scim-tokens"
			}
			if err := get(t, obj, ns, name); err != nil {
				t.Fatal(err)
			}
			if !ownerIs(obj, "acme") {
				t.Errorf("%T %s is not controlled by the tenant: garbage collection would leave it behind", obj, name)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		eventually(t, 30*time.Second, func() error {
			var got scimv1alpha1.ScimTenant
			if err := get(t, &got, ns, "acme"); err != nil {
				return err
			}
			if got.Status.TenantURL != url+"?aadOptscim062020" {
				return fmt.Errorf("tenantURL = %q", got.Status.TenantURL)
			}
			return wantCondition(got.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonVolumePending)
		})
	})
}

func ownerIs(obj client.Object, name string) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Kind == "ScimTenant" && ref.Name == name && ptr.Deref(ref.Controller, false) && ptr.Deref(ref.BlockOwnerDeletion, false) {
			return true
		}
	}
	return false
}

func hasSubPath(mounts []corev1.VolumeMount) bool {
	for _, m := range mounts {
		if m.SubPath != "" {
			return true
		}
	}
	return false
}

func hasMount(mounts []corev1.VolumeMount, name, path string) bool {
	for _, m := range mounts {
		if m.Name == name && m.MountPath == path {
			return true
		}
	}
	return false
}

// storedActiveTokens waits until the stored object (read as JSON, so an
// absent field is not mistaken for 0) has status.activeTokens == want.
func storedActiveTokens(t *testing.T, ns, name string, want int64) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(scimv1alpha1.GroupVersion.WithKind("ScimTenant"))
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
			return err
		}
		got, found, err := unstructured.NestedInt64(u.Object, "status", "activeTokens")
		if err != nil || !found || got != want {
			return fmt.Errorf("status.activeTokens = %d (present %v, %v), want %d", got, found, err, want)
		}
		return nil
	})
}

func wantCondition(conds []metav1.Condition, typ, status, reason string) error {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return fmt.Errorf("no %s condition in %s", typ, toJSON(conds))
	}
	if string(c.Status) != status || (reason != "" && c.Reason != reason) {
		return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

func TestTenantDriftIsRepaired(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "drift"))
	ctx := context.Background()
	svc := &corev1.Service{}
	eventually(t, 30*time.Second, func() error { return get(t, svc, ns, "drift-scim") })

	// Deleted: recreated.
	if err := k8s.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		fresh := &corev1.Service{}
		if err := get(t, fresh, ns, "drift-scim"); err != nil {
			return err
		}
		if fresh.UID == svc.UID {
			return fmt.Errorf("still the deleted service")
		}
		return nil
	})

	// Edited: restored.
	dep := &appsv1.Deployment{}
	if err := get(t, dep, ns, "drift-scim"); err != nil {
		t.Fatal(err)
	}
	dep.Spec.Template.Spec.Containers[0].Image = "evil:latest"
	dep.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
	if err := k8s.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		d := &appsv1.Deployment{}
		if err := get(t, d, ns, "drift-scim"); err != nil {
			return err
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "scim-operator:test" || !*c.SecurityContext.ReadOnlyRootFilesystem {
			return fmt.Errorf("image %s, readOnlyRoot %v", c.Image, *c.SecurityContext.ReadOnlyRootFilesystem)
		}
		return nil
	})

	// Config edited behind the operator's back: restored.
	cm := &corev1.ConfigMap{}
	if err := get(t, cm, ns, "drift-scim-config"); err != nil {
		t.Fatal(err)
	}
	want := cm.Data[config.FileName]
	cm.Data[config.FileName] = `{"groups": false}`
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		c := &corev1.ConfigMap{}
		if err := get(t, c, ns, "drift-scim-config"); err != nil {
			return err
		}
		if c.Data[config.FileName] != want {
			return fmt.Errorf("config still edited")
		}
		return nil
	})
}

func TestTenantConditionsFollowDeployment(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "cond"))
	ctx := context.Background()
	condition := func(typ, status, reason string) {
		t.Helper()
		eventually(t, 30*time.Second, func() error {
			var got scimv1alpha1.ScimTenant
			if err := get(t, &got, ns, "cond"); err != nil {
				return err
			}
			if got.Status.ObservedGeneration != got.Generation {
				return fmt.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
			}
			return wantCondition(got.Status.Conditions, typ, status, reason)
		})
	}
	condition("Ready", "False", scimv1alpha1.ReasonVolumePending)

	// Bind the volume (no volume controller in envtest).
	eventually(t, 30*time.Second, func() error {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := get(t, pvc, ns, "cond-scim-data"); err != nil {
			return err
		}
		pvc.Status.Phase = corev1.ClaimBound
		return k8s.Status().Update(ctx, pvc) // retried on a conflict with the reconciler
	})
	condition("Ready", "False", scimv1alpha1.ReasonDeploymentUnavailable)
	condition("Progressing", "True", scimv1alpha1.ReasonRollingOut)

	setDeploymentAvailable(t, ns, "cond-scim", 1)
	condition("Ready", "False", scimv1alpha1.ReasonNoToken)
	condition("Progressing", "False", scimv1alpha1.ReasonRolledOut)
	// No Ingress: the URL is the in-cluster http one, flagged apart from Ready.
	condition(scimv1alpha1.ConditionInsecureTenantURL, "True", scimv1alpha1.ReasonNoIngress)
	// 0 is stored, not left out, so `kubectl get` shows TOKENS 0 and
	// scripts reading .status.activeTokens see 0.
	storedActiveTokens(t, ns, "cond", 0)

	mustCreate(t, newToken(ns, "cond-token", "cond"))
	condition("Ready", "True", scimv1alpha1.ReasonAvailable)
	storedActiveTokens(t, ns, "cond", 1)

	// Revoking the only token: NoToken says what to do about the revoked one.
	patchToken(t, ns, "cond-token", `{"spec":{"revoked":true}}`)
	condition("Ready", "False", scimv1alpha1.ReasonNoToken)
	storedActiveTokens(t, ns, "cond", 0)
	if c := tenantCondition(t, ns, "cond", "Ready", "False", scimv1alpha1.ReasonNoToken); !strings.Contains(c.Message, "ScimToken cond-token is revoked: set spec.revoked to false") {
		t.Errorf("NoToken message after a revocation: %q, want it to say how to un-revoke cond-token", c.Message)
	}
	patchToken(t, ns, "cond-token", `{"spec":{"revoked":false}}`)
	condition("Ready", "True", scimv1alpha1.ReasonAvailable)
	eventually(t, 30*time.Second, func() error {
		var got scimv1alpha1.ScimTenant
		if err := get(t, &got, ns, "cond"); err != nil {
			return err
		}
		if got.Status.ActiveTokens != 1 || got.Status.ReadyReplicas != 1 {
			return fmt.Errorf("activeTokens %d readyReplicas %d", got.Status.ActiveTokens, got.Status.ReadyReplicas)
		}
		return nil
	})

	// The Deployment loses its pods: Ready follows.
	setDeploymentAvailable(t, ns, "cond-scim", 0)
	condition("Ready", "False", scimv1alpha1.ReasonDeploymentUnavailable)

	// An Ingress without an address is called out.
	var tenant scimv1alpha1.ScimTenant
	if err := get(t, &tenant, ns, "cond"); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Ingress = &scimv1alpha1.IngressSpec{Host: "cond.example.com"}
	if err := k8s.Update(ctx, &tenant); err != nil {
		t.Fatal(err)
	}
	condition("Degraded", "True", scimv1alpha1.ReasonIngressPending)
	condition(scimv1alpha1.ConditionInsecureTenantURL, "True", scimv1alpha1.ReasonNoTLS)

	// TLS: the Tenant URL is https and the warning clears.
	if err := get(t, &tenant, ns, "cond"); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Ingress.TLS = &scimv1alpha1.IngressTLS{SecretName: "cond-tls"}
	if err := k8s.Update(ctx, &tenant); err != nil {
		t.Fatal(err)
	}
	condition(scimv1alpha1.ConditionInsecureTenantURL, "False", scimv1alpha1.ReasonTLS)

	// Removing spec.ingress removes the Ingress.
	if err := get(t, &tenant, ns, "cond"); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Ingress = nil
	if err := k8s.Update(ctx, &tenant); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &networkingv1.Ingress{}, ns, "cond-scim"); err == nil {
			return fmt.Errorf("ingress still there")
		}
		return nil
	})
	condition("Degraded", "False", scimv1alpha1.ReasonAsExpected)
}

// setDeploymentAvailable plays the Deployment controller's part.
func setDeploymentAvailable(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		d := &appsv1.Deployment{}
		if err := get(t, d, ns, name); err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1,
			ReadyReplicas: replicas, AvailableReplicas: replicas,
		}
		return k8s.Status().Update(context.Background(), d)
	})
}

func TestTenantDeletionPolicy(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	keep := newTenant(ns, "keep")
	drop := newTenant(ns, "drop")
	drop.Spec.Storage = &scimv1alpha1.StorageSpec{SQLite: &scimv1alpha1.SQLiteStorage{
		Size: ptr.To(resource.MustParse("2Gi")), DeletionPolicy: scimv1alpha1.DeletionPolicyDelete,
	}}
	mustCreate(t, keep)
	mustCreate(t, drop)
	eventually(t, 30*time.Second, func() error {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := get(t, pvc, ns, "drop-scim-data"); err != nil {
			return err
		}
		if !ownerIs(pvc, "drop") {
			return fmt.Errorf("deletionPolicy Delete: volume not owned by the tenant")
		}
		return get(t, &corev1.PersistentVolumeClaim{}, ns, "keep-scim-data")
	})

	// Deleting the tenant leaves the retained volume: it has no owner, so the
	// garbage collector has nothing to follow, and the tenant has no finalizer.
	if err := k8s.Delete(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, &scimv1alpha1.ScimTenant{}, ns, "keep"); err == nil {
			return fmt.Errorf("tenant still present")
		}
		return nil
	})
	pvc := &corev1.PersistentVolumeClaim{}
	if err := get(t, pvc, ns, "keep-scim-data"); err != nil {
		t.Fatalf("retained volume is gone: %v", err)
	}
	if len(pvc.OwnerReferences) != 0 {
		t.Errorf("retained volume has owners %v", pvc.OwnerReferences)
	}

	// A tenant created again with the same name picks the volume up.
	mustCreate(t, newTenant(ns, "keep"))
	eventually(t, 30*time.Second, func() error {
		d := &appsv1.Deployment{}
		if err := get(t, d, ns, "keep-scim"); err != nil {
			return err
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "keep-scim-data" {
				return nil
			}
		}
		return fmt.Errorf("volume not mounted")
	})
}

func TestTenantInvalidRequiredAttribute(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	tenant := newTenant(ns, "bad")
	// Passes the CEL shape check, but the server's own parser refuses it.
	tenant.Spec.Schema = &scimv1alpha1.SchemaSpec{RequiredUserAttributes: []string{`emails[type eq "work"`}}
	mustCreate(t, tenant)
	eventually(t, 30*time.Second, func() error {
		var got scimv1alpha1.ScimTenant
		if err := get(t, &got, ns, "bad"); err != nil {
			return err
		}
		return wantCondition(got.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonInvalidSpec)
	})
	if err := get(t, &appsv1.Deployment{}, ns, "bad-scim"); err == nil {
		t.Errorf("a Deployment was created for an invalid spec")
	}
}
