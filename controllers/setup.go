package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// tenantRefIndex indexes ScimTokens and ScimWebhooks by the tenant they
// belong to (the cache keeps an index of this name for each kind).
const tenantRefIndex = "spec.tenantRef.name"

// IndexFields registers the cache indexes the reconcilers list by.
func IndexFields(ctx context.Context, mgr ctrl.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &scimv1alpha1.ScimToken{}, tenantRefIndex, func(o client.Object) []string {
		return []string{o.(*scimv1alpha1.ScimToken).Spec.TenantRef.Name}
	})
	if err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &scimv1alpha1.ScimTenant{}, tenantHostIndex, tenantHost)
}

// SetupWithManager watches a tenant's own objects (to repair drift), its
// tokens (to rebuild the token file) and its volume (not owned when retained).
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return watchWebhooks(ctrl.NewControllerManagedBy(mgr)).
		Named("scimtenant").
		WithOptions(opts).
		For(&scimv1alpha1.ScimTenant{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(tenantOfLabelled)).
		Watches(&scimv1alpha1.ScimToken{}, handler.EnqueueRequestsFromMapFunc(tenantOfToken)).
		// A tenant that changes its URL, or goes, may free a URL another
		// tenant on the same host waits for.
		Watches(&scimv1alpha1.ScimTenant{}, handler.EnqueueRequestsFromMapFunc(r.tenantsOnHost),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// SetupWithManager watches tokens, their Secrets, and tenants (a token waits
// for its tenant, and carries the tenant's URL).
func (r *TokenReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("scimtoken").
		WithOptions(opts).
		For(&scimv1alpha1.ScimToken{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		// Tokens need their tenant to exist and carry its URL, which follows
		// its spec: status updates of tenants are no reason to reconcile tokens.
		Watches(&scimv1alpha1.ScimTenant{}, handler.EnqueueRequestsFromMapFunc(r.tokensOfTenant),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

func tenantOfLabelled(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[LabelTenant]
	if name == "" || o.GetLabels()[LabelManagedBy] != ManagedByValue {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}

func tenantOfToken(_ context.Context, o client.Object) []reconcile.Request {
	tok := o.(*scimv1alpha1.ScimToken)
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: tok.Namespace, Name: tok.Spec.TenantRef.Name}}}
}

func (r *TokenReconciler) tokensOfTenant(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsOfTenant(ctx, r.Client, &scimv1alpha1.ScimTokenList{}, o)
}

// requestsOfTenant lists into list the objects of its kind (ScimTokens,
// ScimWebhooks) that refer to tenant, as reconcile requests; none when the
// cache cannot list them.
func requestsOfTenant(ctx context.Context, c client.Reader, list client.ObjectList, tenant client.Object) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(tenant.GetNamespace()), client.MatchingFields{tenantRefIndex: tenant.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, meta.LenList(list))
	_ = meta.EachListItem(list, func(item runtime.Object) error {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(item.(client.Object))})
		return nil
	})
	return reqs
}

// NewScheme has the built-in types and the operator's API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(scimv1alpha1.AddToScheme(s))
	return s
}

// CacheOptions limits the manager's Secret cache to the Secrets the operator
// manages: it must not hold every Secret of the cluster in memory.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByValue})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: managed},
	}}
}

// Options configure the reconcilers.
type Options struct {
	// DefaultImage is the SCIM server image tenants run unless spec.image is set.
	DefaultImage string
	// AllowedImageRepositories are the repositories (or prefixes ending in /)
	// tenants' images may come from; empty allows DefaultImage's repository only.
	AllowedImageRepositories []string
	// IngressPathPolicy confines tenant paths; empty is IngressPathAny.
	IngressPathPolicy IngressPathPolicy
	// OperatorNamespace is the operator's own namespace, admitted to tenants'
	// SCIM ports by their NetworkPolicies; empty outside a cluster.
	OperatorNamespace string
	Clock             clock.PassiveClock
	Controller        controller.Options
	// NewToken overrides token generation (tests); nil uses auth.NewToken.
	NewToken func() (string, error)
	// Webhooks configures ScimWebhooks and their status poller.
	Webhooks WebhookOptions
}

// Setup registers the indexes, the reconcilers and the webhook status poller with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.Controller.UsePriorityQueue == nil {
		// controller-runtime v0.24.1's priority queue can deadlock on shutdown
		// (handleReadyItems sends to a worker that has already stopped, while
		// holding the lock the worker's Done needs), so a stopping manager
		// hangs until its grace period and delays leader hand-over. The classic
		// workqueue has no such path.
		opts.Controller.UsePriorityQueue = ptr.To(false)
	}
	if err := IndexFields(context.Background(), mgr); err != nil {
		return err
	}
	images, err := NewImagePolicy(opts.AllowedImageRepositories, opts.DefaultImage)
	if err != nil {
		return err
	}
	if opts.IngressPathPolicy == "" {
		opts.IngressPathPolicy = IngressPathAny
	}
	tenants := &TenantReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("scimtenant-controller"), Clock: opts.Clock, DefaultImage: opts.DefaultImage,
		Images: images, PathPolicy: opts.IngressPathPolicy, OperatorNamespace: opts.OperatorNamespace,
	}
	tenants.WebhookAllowPrivateNetworks = opts.Webhooks.AllowPrivateNetworks
	if err := tenants.SetupWithManager(mgr, opts.Controller); err != nil {
		return err
	}
	tokens := &TokenReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("scimtoken-controller"), Clock: opts.Clock, NewToken: opts.NewToken,
	}
	if err := tokens.SetupWithManager(mgr, opts.Controller); err != nil {
		return err
	}
	return setupWebhooks(mgr, opts)
}
