package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/rotation"
	"github.com/scim-operator/scim-operator/scimserver/filter"
)

// TenantReconciler turns a ScimTenant into a running SCIM server: service
// account, configuration, token file, volume, Deployment, Service, Ingress,
// and a status with the Tenant URL.
type TenantReconciler struct {
	// WebhookAllowPrivateNetworks lets webhooks deliver to loopback, private
	// and link-local addresses (flag --webhook-allow-private-networks).
	WebhookAllowPrivateNetworks bool

	Client client.Client
	// Reader bypasses the cache, which holds only the operator's Secrets.
	Reader   client.Reader
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	Clock    clock.PassiveClock
	// DefaultImage runs the server when spec.image is empty: the operator's own release.
	DefaultImage string
	// Images allows the images tenants may run.
	Images *ImagePolicy
	// PathPolicy confines the paths tenants may claim on a host.
	PathPolicy IngressPathPolicy
	// OperatorNamespace is where the operator runs: its NetworkPolicies
	// admit it to the SCIM port. Empty when it runs outside the cluster.
	OperatorNamespace string
}

// Reconcile brings one ScimTenant to its desired state.
func (r *TenantReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	t := &scimv1alpha1.ScimTenant{}
	if err := r.Client.Get(ctx, req.NamespacedName, t); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		// Owner references garbage-collect everything but a retained volume;
		// nothing needs a finalizer.
		return reconcile.Result{}, nil
	}
	before := t.DeepCopy()
	obs := &observed{}
	now := r.Clock.Now()
	defer func() {
		setTenantStatus(t, obs)
		err = kerrors.NewAggregate([]error{err, r.patchStatus(ctx, before, t)})
	}()

	if ref := r.refusal(t); ref != nil {
		obs.refused = ref
		next, err := r.keepTokenFileCurrent(ctx, t, obs, now)
		return requeueAt(now, next), err
	}
	if obs.urlConflict, err = r.urlConflict(ctx, t); err != nil {
		return reconcile.Result{}, err
	}
	nextTokenChange, err := r.reconcileObjects(ctx, t, obs, now)
	if err != nil {
		var conflict *errNotOwned
		if errors.As(err, &conflict) {
			obs.applyErr = err
			return reconcile.Result{}, nil // a user must act; retrying changes nothing
		}
		obs.applyErr = err
		return reconcile.Result{}, err
	}
	if err := r.observe(ctx, t, obs); err != nil {
		return reconcile.Result{}, err
	}
	return requeueAt(now, nextTokenChange), nil
}

// refusal is why the operator refuses to roll the tenant out at all, or nil:
// a spec it cannot serve, a path outside the path policy, an image outside
// the allow-list.
func (r *TenantReconciler) refusal(t *scimv1alpha1.ScimTenant) *refusal {
	if msg := validateTenant(t); msg != "" {
		return &refusal{reason: scimv1alpha1.ReasonInvalidSpec, message: msg}
	}
	if msg := r.PathPolicy.pathNotAllowed(t); msg != "" {
		return &refusal{reason: scimv1alpha1.ReasonURLNotAllowed, message: msg}
	}
	if r.Images != nil {
		if msg := r.Images.notAllowed(r.image(t)); msg != "" {
			return &refusal{reason: scimv1alpha1.ReasonImageNotAllowed, message: msg}
		}
	}
	return nil
}

// image is the image the tenant's server runs.
func (r *TenantReconciler) image(t *scimv1alpha1.ScimTenant) string {
	if t.Spec.Image != "" {
		return t.Spec.Image
	}
	return r.DefaultImage
}

// validateTenant catches what admission cannot: attribute paths are parsed by
// the server's own parser.
func validateTenant(t *scimv1alpha1.ScimTenant) string {
	if s := t.Spec.Schema; s != nil {
		for _, p := range s.RequiredUserAttributes {
			if _, err := filter.ParsePath(p); err != nil {
				return fmt.Sprintf("schema.requiredUserAttributes: %q is not a SCIM attribute path: %v", p, err)
			}
		}
	}
	return ""
}

// keepTokenFileCurrent rewrites the token file of a refused tenant that was
// rolled out before: refusing rolls nothing out, but the server it still
// runs must keep refusing revoked and expired tokens and accept rotated ones.
// A tenant that never ran gets none. It returns when the file next changes.
func (r *TenantReconciler) keepTokenFileCurrent(ctx context.Context, t *scimv1alpha1.ScimTenant, obs *observed, now time.Time) (time.Time, error) {
	existing := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: tokenFileSecret(t)}, existing)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(existing, t)) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	tokens, err := r.tokensOf(ctx, t)
	if err != nil {
		return time.Time{}, err
	}
	file, next := tokenFile(tokens, now)
	obs.activeTokens = int32(len(file.Tokens))
	obs.unusableTokens = unusableTokens(tokens, now)
	secret, err := desiredTokenFileSecret(t, file)
	if err != nil {
		return time.Time{}, err
	}
	return next, r.applyOne(ctx, t, secret, true)
}

// reconcileObjects applies every object the tenant owns and returns when the
// token file next changes by itself (a grace window or a token expiring).
func (r *TenantReconciler) reconcileObjects(ctx context.Context, t *scimv1alpha1.ScimTenant, obs *observed, now time.Time) (time.Time, error) {
	tokens, err := r.tokensOf(ctx, t)
	if err != nil {
		return time.Time{}, err
	}
	file, next := tokenFile(tokens, now)
	obs.activeTokens = int32(len(file.Tokens))
	obs.unusableTokens = unusableTokens(tokens, now)
	hooks, err := r.webhookObjects(ctx, t, now)
	if err != nil {
		return time.Time{}, err
	}
	if hooks.entry != nil {
		file.Tokens = append(file.Tokens, *hooks.entry)
	}

	cm, err := desiredConfigMap(t)
	if err != nil {
		return time.Time{}, err
	}
	secret, err := desiredTokenFileSecret(t, file)
	if err != nil {
		return time.Time{}, err
	}
	owned := append([]client.Object{desiredServiceAccount(t), cm, secret}, hooks.objects...)
	if t.Spec.SQLite() != nil {
		pvc := desiredDataClaim(t)
		if err := r.applyOne(ctx, t, pvc, !retainsData(t)); err != nil {
			return time.Time{}, err
		}
	}
	owned = append(owned, desiredDeployment(t, r.image(t), configHash(cm)), desiredService(t))
	if ing := desiredIngress(t); ing != nil && obs.urlConflict == "" {
		owned = append(owned, ing)
	} else if err := r.deleteOwned(ctx, t, &networkingv1.Ingress{}, "spec.ingress removed, or its URL is held by an older tenant"); err != nil {
		return time.Time{}, err
	}
	if np := desiredNetworkPolicy(t, r.OperatorNamespace); np != nil {
		owned = append(owned, np)
	} else if err := r.deleteOwned(ctx, t, &networkingv1.NetworkPolicy{}, "spec.networkPolicy removed or disabled"); err != nil {
		return time.Time{}, err
	}
	if pdb := desiredPodDisruptionBudget(t); pdb != nil {
		owned = append(owned, pdb)
	} else if err := r.deleteOwned(ctx, t, &policyv1.PodDisruptionBudget{}, "one replica, or storage.sqlite"); err != nil {
		return time.Time{}, err
	}
	for _, obj := range owned {
		if dep, ok := obj.(*appsv1.Deployment); ok && hooks.mountFile {
			mountWebhookFile(t, dep)
		}
		if err := r.applyOne(ctx, t, obj, true); err != nil {
			return time.Time{}, err
		}
	}
	return rotation.Earliest(next, hooks.next), nil
}

// applyOne applies obj, owned by the tenant when owned is true, and tells the
// user, through an event on the tenant, what was created.
func (r *TenantReconciler) applyOne(ctx context.Context, t *scimv1alpha1.ScimTenant, obj client.Object, owned bool) error {
	if owned {
		if err := controllerutil.SetControllerReference(t, obj, r.Scheme); err != nil {
			return err
		}
	}
	created, err := (&applier{client: r.Client, reader: r.Reader, scheme: r.Scheme}).apply(ctx, obj)
	if err != nil {
		return err
	}
	if created {
		gvk, err := apiutil.GVKForObject(obj, r.Scheme)
		if err != nil {
			return err
		}
		kind := gvk.Kind
		log.FromContext(ctx).Info("Created "+kind, "name", obj.GetName())
		r.Recorder.Eventf(t, corev1.EventTypeNormal, "Created", "Created %s %s", kind, obj.GetName())
	}
	return nil
}

func (r *TenantReconciler) tokensOf(ctx context.Context, t *scimv1alpha1.ScimTenant) ([]scimv1alpha1.ScimToken, error) {
	var list scimv1alpha1.ScimTokenList
	err := r.Client.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingFields{tenantRefIndex: t.Name})
	return list.Items, err
}

// deleteOwned deletes the tenant's object of obj's kind named serverName,
// if the tenant controls it, because the spec no longer wants it (why).
func (r *TenantReconciler) deleteOwned(ctx context.Context, t *scimv1alpha1.ScimTenant, obj client.Object, why string) error {
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: serverName(t)}, obj)
	if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(obj, t)) {
		return nil
	}
	if err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(obj, r.Scheme)
	if err != nil {
		return err
	}
	log.FromContext(ctx).Info("Deleting "+gvk.Kind, "name", obj.GetName(), "reason", why)
	r.Recorder.Eventf(t, corev1.EventTypeNormal, "Deleted", "Deleted %s %s: %s", gvk.Kind, obj.GetName(), why)
	return client.IgnoreNotFound(r.Client.Delete(ctx, obj))
}

// observe reads the state of what was applied, for the status.
func (r *TenantReconciler) observe(ctx context.Context, t *scimv1alpha1.ScimTenant, obs *observed) error {
	key := client.ObjectKey{Namespace: t.Namespace, Name: serverName(t)}
	dep := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, key, dep); err != nil {
		return client.IgnoreNotFound(err)
	}
	obs.deployment = dep
	if t.Spec.SQLite() != nil {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: dataClaimName(t)}, pvc); err != nil {
			return client.IgnoreNotFound(err)
		}
		obs.claimPhase = pvc.Status.Phase
	}
	if t.Spec.Ingress != nil && obs.urlConflict == "" {
		ing := &networkingv1.Ingress{}
		if err := r.Client.Get(ctx, key, ing); err != nil {
			return client.IgnoreNotFound(err)
		}
		obs.ingressAddressed = len(ing.Status.LoadBalancer.Ingress) > 0
	}
	return nil
}

func (r *TenantReconciler) patchStatus(ctx context.Context, before, t *scimv1alpha1.ScimTenant) error {
	if equality.Semantic.DeepEqual(before.Status, t.Status) {
		return nil // nothing changed: spare the API server a write and watchers an event
	}
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, t, client.MergeFrom(before)))
}
