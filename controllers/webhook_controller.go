package controllers

import (
	"context"
	"errors"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/rotation"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// WebhookReconciler issues and rotates the signing secrets of ScimWebhooks.
// It writes each secret to the webhook's own Secret (with the previous one
// while its grace window lasts) and only hashes and fingerprints to status;
// the tenant's webhook file (TenantReconciler) is built from those Secrets.
// Delivery progress in status comes from the status poller.
type WebhookReconciler struct {
	Client client.Client
	// Reader bypasses the cache, which holds only the operator's Secrets.
	Reader   client.Reader
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	Clock    clock.PassiveClock
	// NewSecret generates a signing secret; webhookconfig.NewSecret unless a test injects one.
	NewSecret func() (string, error)
	// Poll asks the status poller to read the tenant's delivery status soon
	// (a spec change should show in status without waiting a full period); may be nil.
	Poll func(namespace, tenant string)
}

// Reconcile brings one ScimWebhook to its desired state.
func (r *WebhookReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	wh := &scimv1alpha1.ScimWebhook{}
	if err := r.Client.Get(ctx, req.NamespacedName, wh); err != nil {
		if apierrors.IsNotFound(err) {
			forgetWebhookMetrics(req.Namespace, req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !wh.DeletionTimestamp.IsZero() {
		// The Secret is garbage-collected with its owner; the tenant drops
		// the webhook from its file as soon as it sees the deletion.
		return reconcile.Result{}, nil
	}
	before := wh.DeepCopy()
	defer func() {
		wh.Status.ObservedGeneration = wh.Generation
		err = kerrors.NewAggregate([]error{err, r.patchStatus(ctx, before, wh)})
	}()

	now := r.Clock.Now()
	tenant, missing, err := referencedTenant(ctx, r.Client, wh.Namespace, wh.Spec.TenantRef.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if tenant == nil {
		setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonTenantNotFound, missing)
		return reconcile.Result{}, nil
	}
	if err := webhookconfig.ValidateURL(wh.Spec.URL); err != nil {
		setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonInvalidSpec, "spec.url: "+err.Error()+": use an absolute https URL")
		return reconcile.Result{}, nil
	}
	secret, err := ownedSecret(ctx, r.Client, r.Reader, client.ObjectKey{Namespace: wh.Namespace, Name: wh.SecretName()}, wh)
	if err != nil {
		var conflict *errNotOwned
		if errors.As(err, &conflict) {
			setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonSecretConflict, conflict.Error())
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	wh.Status.SecretName = wh.SecretName()
	tl, err := r.rotate(ctx, wh, tenant, secret, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	setWebhookTimeline(&wh.Status, tl)
	setDeliveryConditions(wh)
	recordWebhookMetrics(wh)
	if r.Poll != nil && before.Generation != before.Status.ObservedGeneration {
		r.Poll(wh.Namespace, wh.Spec.TenantRef.Name)
	}
	return requeueAt(now, tl.NextDeadline()), nil
}

// rotate runs the shared rotation policy on the webhook's signing secret and
// writes the Secret (before status, so a crash in between is recovered by
// adopting the Secret's newer revision). It returns the new timeline.
func (r *WebhookReconciler) rotate(ctx context.Context, wh *scimv1alpha1.ScimWebhook, tenant *scimv1alpha1.ScimTenant, s *corev1.Secret, now time.Time) (rotation.Timeline, error) {
	tl := webhookTimeline(&wh.Status)
	sch := rotation.ScheduleOf(wh.Spec.Rotation, nil)
	current := string(s.Data[scimv1alpha1.SecretKeyWebhookSecret])
	previous := string(s.Data[scimv1alpha1.SecretKeyWebhookPrevious])
	adoptWebhookSecret(&tl, sch, s, current)

	state := rotation.State{
		Timeline: tl, Schedule: sch, Now: now,
		RotateRequest: wh.Annotations[scimv1alpha1.RotateAnnotation],
		SecretHash:    validSecretHash(current),
	}
	reason := rotation.ShouldIssue(state)
	if reason != "" {
		gen := r.NewSecret
		if gen == nil {
			gen = webhookconfig.NewSecret
		}
		fresh, err := gen()
		if err != nil {
			return tl, err
		}
		// Only a secret the operator issued (its hash is in status) may keep
		// signing: a lost one is gone, an edited one is not trusted.
		previous = ""
		if tl.Hash != "" && validSecretHash(current) == tl.Hash {
			previous = current
		}
		tl.Rotate(sch, auth.Hash(fresh), tl.Revision+1, now, state.RotateRequest)
		if previous == "" {
			tl.PreviousHash, tl.PreviousValidUntil = "", nil
		}
		current = fresh
	}
	expired := tl.ExpirePrevious(now)
	if tl.PreviousHash == "" || auth.Hash(previous) != tl.PreviousHash {
		previous = ""
	}
	desired := desiredWebhookSecret(wh, tenant, tl, current, previous)
	// Writing an unchanged Secret is not only wasted: from a cache that has
	// not seen its deletion yet, server-side apply would resurrect it.
	if !secretUpToDate(s, desired) {
		if err := r.apply(ctx, wh, desired); err != nil {
			return webhookTimeline(&wh.Status), err
		}
	}
	r.announce(ctx, wh, tl, reason, expired)
	return tl, nil
}

// announce tells the user, by events and logs, what rotate did. Only
// fingerprints: the secret never reaches an event or a log line.
func (r *WebhookReconciler) announce(ctx context.Context, wh *scimv1alpha1.ScimWebhook, tl rotation.Timeline, reason string, expired bool) {
	if reason != "" {
		log.FromContext(ctx).Info("Issued webhook signing secret", "revision", tl.Revision, "fingerprint", tl.Fingerprint, "reason", reason)
		webhookRotations.WithLabelValues(wh.Namespace, wh.Name, reason).Inc()
		if tl.Revision == 1 {
			r.Recorder.Eventf(wh, corev1.EventTypeNormal, "Issued", "Issued signing secret %s (revision 1) into Secret %s", tl.Fingerprint, wh.SecretName())
		} else {
			msg := "Rotated to signing secret %s (revision %d, reason %s)"
			if tl.PreviousValidUntil != nil {
				msg += "; deliveries are also signed with previous secret %s until " + tl.PreviousValidUntil.UTC().Format(time.RFC3339)
			} else {
				msg += "; previous secret %s no longer signs"
			}
			r.Recorder.Eventf(wh, corev1.EventTypeNormal, "Rotated", msg, tl.Fingerprint, tl.Revision, reason, tl.PreviousFingerprint)
		}
	}
	if expired {
		r.Recorder.Eventf(wh, corev1.EventTypeNormal, "PreviousSecretExpired", "Previous signing secret %s no longer signs deliveries", tl.PreviousFingerprint)
	}
}

// adoptWebhookSecret recovers from a manager that stopped after writing a
// new secret to the Secret but before recording it in status.
func adoptWebhookSecret(tl *rotation.Timeline, sch rotation.Schedule, s *corev1.Secret, current string) {
	rev, err := strconv.ParseInt(s.Annotations[AnnotationRevision], 10, 64)
	hash := validSecretHash(current)
	if err != nil || rev <= tl.Revision || hash == "" {
		return
	}
	issued, err := time.Parse(time.RFC3339, s.Annotations[AnnotationIssuedAt])
	if err != nil {
		return
	}
	tl.Rotate(sch, hash, rev, issued, s.Annotations[AnnotationRotateRequest])
}

// validSecretHash is the SHA-256 of a well-formed whsec_ secret, "" otherwise.
func validSecretHash(secret string) string {
	if _, err := webhookconfig.DecodeSecret(secret); err != nil {
		return ""
	}
	return auth.Hash(secret)
}

func (r *WebhookReconciler) apply(ctx context.Context, wh *scimv1alpha1.ScimWebhook, s *corev1.Secret) error {
	if err := controllerutil.SetControllerReference(wh, s, r.Scheme); err != nil {
		return err
	}
	_, err := (&applier{client: r.Client, reader: r.Reader, scheme: r.Scheme}).apply(ctx, s)
	return err
}

func (r *WebhookReconciler) patchStatus(ctx context.Context, before, wh *scimv1alpha1.ScimWebhook) error {
	if equality.Semantic.DeepEqual(before.Status, wh.Status) {
		return nil
	}
	// Optimistic lock: a reconcile that started from a stale cached status
	// (one that has not seen its own last issue yet) must not record a
	// second timeline over the first; it retries from the current one.
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, wh, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
}

// desiredWebhookSecret holds the current signing secret, the previous one
// while its grace window lasts, and the bookkeeping to recover the timeline.
func desiredWebhookSecret(wh *scimv1alpha1.ScimWebhook, tenant *scimv1alpha1.ScimTenant, tl rotation.Timeline, current, previous string) *corev1.Secret {
	data := map[string][]byte{scimv1alpha1.SecretKeyWebhookSecret: []byte(current)}
	ann := map[string]string{
		AnnotationRevision:      strconv.FormatInt(tl.Revision, 10),
		AnnotationIssuedAt:      tl.IssuedAt.UTC().Format(time.RFC3339),
		AnnotationRotateRequest: tl.LastRotateRequest,
	}
	if previous != "" && tl.PreviousValidUntil != nil {
		data[scimv1alpha1.SecretKeyWebhookPrevious] = []byte(previous)
		ann[AnnotationPreviousValidUntil] = tl.PreviousValidUntil.UTC().Format(time.RFC3339)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: wh.SecretName(), Namespace: wh.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedByValue, LabelTenant: tenant.Name, LabelWebhook: wh.Name,
				LabelComponent: "webhook",
			},
			Annotations: ann,
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// webhookTimeline and setWebhookTimeline copy the signing secret's issuing
// record between status and the shared rotation policy. Signing secrets do
// not expire: ExpiresAt stays nil.
func webhookTimeline(st *scimv1alpha1.ScimWebhookStatus) rotation.Timeline {
	return rotation.Timeline{
		Revision: st.Revision, Hash: st.Hash, Fingerprint: st.Fingerprint,
		IssuedAt: st.IssuedAt, NextRotationAt: st.NextRotationAt,
		PreviousHash: st.PreviousHash, PreviousFingerprint: st.PreviousFingerprint,
		PreviousValidUntil: st.PreviousValidUntil, LastRotateRequest: st.LastRotateRequest,
	}
}

func setWebhookTimeline(st *scimv1alpha1.ScimWebhookStatus, t rotation.Timeline) {
	st.Revision, st.Hash, st.Fingerprint = t.Revision, t.Hash, t.Fingerprint
	st.IssuedAt, st.NextRotationAt = t.IssuedAt, t.NextRotationAt
	st.PreviousHash, st.PreviousFingerprint = t.PreviousHash, t.PreviousFingerprint
	st.PreviousValidUntil, st.LastRotateRequest = t.PreviousValidUntil, t.LastRotateRequest
}

// secretUpToDate reports whether the existing Secret already holds exactly
// the desired data, and the desired labels and annotations.
func secretUpToDate(existing, desired *corev1.Secret) bool {
	if existing.UID == "" || len(existing.Data) != len(desired.Data) {
		return false
	}
	for k, v := range desired.Data {
		if string(existing.Data[k]) != string(v) {
			return false
		}
	}
	_, hasPrevious := existing.Annotations[AnnotationPreviousValidUntil]
	if _, want := desired.Annotations[AnnotationPreviousValidUntil]; hasPrevious != want {
		return false
	}
	for _, m := range [][2]map[string]string{{existing.Labels, desired.Labels}, {existing.Annotations, desired.Annotations}} {
		for k, v := range m[1] {
			if m[0][k] != v {
				return false
			}
		}
	}
	return true
}
