package controllers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/deliverystatus"
)

// The webhook controller and the status poller read ScimWebhooks through the
// cache only (list, watch) and write nothing but their status (patch); the
// Secrets they read and write are covered by the tenant's permissions.
//
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimwebhooks,verbs=list;watch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimwebhooks/status,verbs=patch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimwebhooks/finalizers,verbs=update

// ServiceURL resolves a tenant server's Service to the root URL the operator
// reaches it at. In a cluster that is the Service's DNS name; the local
// runtime maps it to the local server process.
type ServiceURL func(ctx context.Context, namespace, service string, port int32) (string, error)

// ClusterServiceURL is http://<service>.<namespace>.svc:<port>.
func ClusterServiceURL(_ context.Context, namespace, service string, port int32) (string, error) {
	return fmt.Sprintf("http://%s.%s.svc:%d", service, namespace, port), nil
}

// WebhookOptions configure ScimWebhooks and the delivery status poller.
type WebhookOptions struct {
	// AllowPrivateNetworks lets webhooks deliver to loopback, private and
	// link-local addresses (local runs and tests).
	AllowPrivateNetworks bool
	// ServiceURL reaches tenant servers; ClusterServiceURL when nil.
	ServiceURL ServiceURL
	// PollInterval between status polls; deliverystatus.DefaultInterval when zero.
	PollInterval time.Duration
	// PollConcurrency bounds status requests in flight; deliverystatus.DefaultConcurrency when zero.
	PollConcurrency int
	// HTTP polls the servers; deliverystatus' default client when nil.
	HTTP *http.Client
	// NewSecret overrides signing secret generation (tests).
	NewSecret func() (string, error)
}

func indexWebhooks(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &scimv1alpha1.ScimWebhook{}, tenantRefIndex, func(o client.Object) []string {
		return []string{o.(*scimv1alpha1.ScimWebhook).Spec.TenantRef.Name}
	})
}

// setupWebhooks registers the webhook reconciler and the status poller.
func setupWebhooks(mgr ctrl.Manager, opts Options) error {
	if err := indexWebhooks(context.Background(), mgr); err != nil {
		return err
	}
	poller := &WebhookStatusPoller{Client: mgr.GetClient()}
	tenants := &TenantStatusPoller{
		Client: mgr.GetClient(), ServiceURL: opts.Webhooks.ServiceURL, Clock: opts.Clock,
		Recorder: mgr.GetEventRecorderFor("scimtenant-status"),
	}
	p := &deliverystatus.Poller{
		Targets: tenants.Targets, Apply: poller.Apply, ApplyStatus: tenants.ApplyStatus,
		Interval: opts.Webhooks.PollInterval, Concurrency: opts.Webhooks.PollConcurrency, HTTP: opts.Webhooks.HTTP,
		Log: mgr.GetLogger().WithName("webhook-status"),
	}
	if err := mgr.Add(p); err != nil {
		return err
	}
	r := &WebhookReconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorderFor("scimwebhook-controller"), Clock: opts.Clock, NewSecret: opts.Webhooks.NewSecret,
		Poll: func(ns, tenant string) { p.Trigger(ns + "/" + tenant) },
	}
	return r.SetupWithManager(mgr, opts.Controller)
}

// SetupWithManager watches webhooks, their Secrets, and tenants (a webhook
// waits for its tenant).
func (r *WebhookReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("scimwebhook").
		WithOptions(opts).
		For(&scimv1alpha1.ScimWebhook{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Watches(&scimv1alpha1.ScimTenant{}, handler.EnqueueRequestsFromMapFunc(r.webhooksOfTenant),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

func (r *WebhookReconciler) webhooksOfTenant(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsOfTenant(ctx, r.Client, &scimv1alpha1.ScimWebhookList{}, o)
}

// watchWebhooks makes a tenant re-render its webhook file when a webhook's
// spec or annotations (resume) change, and when a signing secret is written.
func watchWebhooks(b *builder.Builder) *builder.Builder {
	return b.
		Watches(&scimv1alpha1.ScimWebhook{}, handler.EnqueueRequestsFromMapFunc(tenantOfWebhook),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(tenantOfWebhookSecret))
}

func tenantOfWebhook(_ context.Context, o client.Object) []reconcile.Request {
	wh := o.(*scimv1alpha1.ScimWebhook)
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: wh.Namespace, Name: wh.Spec.TenantRef.Name}}}
}

func tenantOfWebhookSecret(ctx context.Context, o client.Object) []reconcile.Request {
	if o.GetLabels()[LabelComponent] != "webhook" {
		return nil
	}
	return tenantOfLabelled(ctx, o)
}

// WebhookStatusPoller connects the generic poller to ScimWebhooks: it
// writes what each tenant with webhooks reports into its webhooks' status
// (TenantStatusPoller.Targets lists the tenants, marking those without).
type WebhookStatusPoller struct {
	Client client.Client
}

// Apply writes one tenant's report (or the failure to read it) into the
// status of each of its webhooks. An unreachable server leaves the last
// reported status in place and says so in StatusReported.
func (p *WebhookStatusPoller) Apply(ctx context.Context, target deliverystatus.Target, rep *deliverystatus.Report, pollErr error, at time.Time) {
	ns, tenant, _ := strings.Cut(target.Key, "/")
	var hooks scimv1alpha1.ScimWebhookList
	if err := p.Client.List(ctx, &hooks, client.InNamespace(ns), client.MatchingFields{tenantRefIndex: tenant}); err != nil {
		return
	}
	for i := range hooks.Items {
		wh := &hooks.Items[i]
		before := wh.DeepCopy()
		if pollErr != nil {
			markStatusUnreachable(wh, pollErr)
		} else {
			applyDeliveryReport(wh, rep.Find(wh.Name), at)
			wh.Status.StatusObservedAt = before.Status.StatusObservedAt
		}
		if !needsUser(wh) {
			setDeliveryConditions(wh)
		}
		if equality.Semantic.DeepEqual(before.Status, wh.Status) {
			continue // an unchanged report costs no write
		}
		if pollErr == nil {
			wh.Status.StatusObservedAt = &metav1.Time{Time: at}
		}
		recordWebhookMetrics(wh)
		_ = client.IgnoreNotFound(p.Client.Status().Patch(ctx, wh, client.MergeFrom(before)))
	}
}
