package controllers

import (
	"context"
	"errors"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// TokenReconciler issues, rotates, expires and revokes ScimTokens. It writes
// each token's plaintext to the token's own Secret and nowhere else; the
// tenant's token file (TenantReconciler) is built from the hashes in status.
type TokenReconciler struct {
	Client client.Client
	// Reader bypasses the cache, which holds only the operator's Secrets.
	Reader   client.Reader
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	Clock    clock.PassiveClock
	// NewToken generates a token; auth.NewToken unless a test injects one.
	NewToken func() (string, error)
}

// Reconcile brings one ScimToken to its desired state.
func (r *TokenReconciler) Reconcile(ctx context.Context, req reconcile.Request) (res reconcile.Result, err error) {
	tok := &scimv1alpha1.ScimToken{}
	if err := r.Client.Get(ctx, req.NamespacedName, tok); err != nil {
		if apierrors.IsNotFound(err) {
			forgetTokenMetrics(req.Namespace, req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !tok.DeletionTimestamp.IsZero() {
		// The Secret is garbage-collected with its owner and the tenant drops
		// the token from its file as soon as it sees the deletion.
		return reconcile.Result{}, nil
	}
	before := tok.DeepCopy()
	defer func() {
		tok.Status.ObservedGeneration = tok.Generation
		err = kerrors.NewAggregate([]error{err, r.patchStatus(ctx, before, tok)})
	}()

	now := r.Clock.Now()
	tenant, missing, err := referencedTenant(ctx, r.Client, tok.Namespace, tok.Spec.TenantRef.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	if tenant == nil {
		setTokenReady(tok, metav1.ConditionFalse, scimv1alpha1.ReasonTenantNotFound, missing)
		return reconcile.Result{}, nil
	}
	secret, err := ownedSecret(ctx, r.Client, r.Reader, client.ObjectKey{Namespace: tok.Namespace, Name: tok.SecretName()}, tok)
	if err != nil {
		var conflict *errNotOwned
		if errors.As(err, &conflict) {
			setTokenReady(tok, metav1.ConditionFalse, scimv1alpha1.ReasonSecretConflict, conflict.Error())
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	adoptSecret(tok, secret)
	tok.Status.SecretName = tok.SecretName()

	if tok.Spec.Revoked {
		return reconcile.Result{}, r.revoke(ctx, tok, tenant)
	}
	state := tokenState{token: tok, secretHash: secretHash(secret), now: now}
	if reason := shouldIssue(state); reason != "" {
		if err := r.issue(ctx, tok, tenant, reason, now); err != nil {
			return reconcile.Result{}, err
		}
	} else if err := r.writeSecret(ctx, tok, tenant, string(secret.Data[scimv1alpha1.SecretKeyToken])); err != nil {
		return reconcile.Result{}, err
	}
	r.expirePrevious(tok, now)
	r.setReady(tok, tenant, now)
	recordTokenMetrics(tok)
	return requeueAt(now, nextTokenDeadline(tok)), nil
}

func secretHash(s *corev1.Secret) string {
	if v := s.Data[scimv1alpha1.SecretKeyToken]; len(v) > 0 {
		return auth.Hash(string(v))
	}
	return ""
}

// adoptSecret recovers from a manager that stopped after writing a new token
// to the Secret but before recording it in status: the Secret's revision is
// ahead, so its token becomes current and the recorded one previous.
func adoptSecret(tok *scimv1alpha1.ScimToken, s *corev1.Secret) {
	rev, err := strconv.ParseInt(s.Annotations[AnnotationRevision], 10, 64)
	hash := secretHash(s)
	if err != nil || rev <= tok.Status.Revision || hash == "" {
		return
	}
	issued, err := time.Parse(time.RFC3339, s.Annotations[AnnotationIssuedAt])
	if err != nil {
		return
	}
	rotateToStatus(tok, hash, rev, issued, s.Annotations[AnnotationRotateRequest])
}

// issue generates a token, writes it to the Secret, then records it.
func (r *TokenReconciler) issue(ctx context.Context, tok *scimv1alpha1.ScimToken, tenant *scimv1alpha1.ScimTenant, reason string, now time.Time) error {
	gen := r.NewToken
	if gen == nil {
		gen = auth.NewToken
	}
	value, err := gen()
	if err != nil {
		return err
	}
	rev := tok.Status.Revision + 1
	// Any issue consumes the current rotate request, whatever caused it: the
	// admin asked for a new token and got one.
	request := tok.Annotations[scimv1alpha1.RotateAnnotation]
	s := desiredTokenSecret(tok, tenant, value)
	s.Annotations = map[string]string{
		AnnotationRevision:      strconv.FormatInt(rev, 10),
		AnnotationIssuedAt:      now.UTC().Format(time.RFC3339),
		AnnotationRotateRequest: request,
	}
	if err := r.apply(ctx, tok, s); err != nil {
		return err
	}
	first := tok.Status.Revision == 0
	rotateToStatus(tok, auth.Hash(value), rev, now, request)
	log.FromContext(ctx).Info("Issued token", "revision", rev, "fingerprint", tok.Status.Fingerprint, "reason", reason)
	tokenRotations.WithLabelValues(tok.Namespace, tok.Name, reason).Inc()
	if first {
		r.Recorder.Eventf(tok, corev1.EventTypeNormal, "Issued", "Issued token %s (revision %d) into Secret %s", tok.Status.Fingerprint, rev, s.Name)
	} else {
		msg := "Rotated to token %s (revision %d, reason %s)"
		if tok.Status.PreviousValidUntil != nil {
			msg += "; previous token %s is accepted until " + tok.Status.PreviousValidUntil.UTC().Format(time.RFC3339)
		}
		r.Recorder.Eventf(tok, corev1.EventTypeNormal, "Rotated", msg, tok.Status.Fingerprint, rev, reason, tok.Status.PreviousFingerprint)
	}
	return nil
}

// writeSecret keeps the Secret current (the tenant URL can change) without
// touching the token or its bookkeeping annotations.
func (r *TokenReconciler) writeSecret(ctx context.Context, tok *scimv1alpha1.ScimToken, tenant *scimv1alpha1.ScimTenant, value string) error {
	s := desiredTokenSecret(tok, tenant, value)
	s.Annotations = map[string]string{
		AnnotationRevision:      strconv.FormatInt(tok.Status.Revision, 10),
		AnnotationIssuedAt:      tok.Status.IssuedAt.UTC().Format(time.RFC3339),
		AnnotationRotateRequest: tok.Status.LastRotateRequest,
	}
	return r.apply(ctx, tok, s)
}

// revoke removes the token from the Secret and its hashes from status, so the
// tenant refuses it at once and clearing spec.revoked issues a new one.
func (r *TokenReconciler) revoke(ctx context.Context, tok *scimv1alpha1.ScimToken, tenant *scimv1alpha1.ScimTenant) error {
	wasActive := tok.Status.Hash != "" || tok.Status.PreviousHash != ""
	s := desiredTokenSecret(tok, tenant, "")
	if err := r.apply(ctx, tok, s); err != nil {
		return err
	}
	st := &tok.Status
	st.Hash, st.PreviousHash, st.PreviousValidUntil, st.NextRotationAt, st.ExpiresAt = "", "", nil, nil, nil
	setTokenReady(tok, metav1.ConditionFalse, scimv1alpha1.ReasonRevoked, "spec.revoked is true: the tenant refuses this token; set it to false to issue a new one")
	if wasActive {
		log.FromContext(ctx).Info("Revoked token", "fingerprint", st.Fingerprint)
		r.Recorder.Eventf(tok, corev1.EventTypeWarning, "Revoked", "Token %s revoked; the tenant refuses it now", st.Fingerprint)
	}
	recordTokenMetrics(tok)
	return nil
}

// expirePrevious forgets the previous token once its grace window is over.
func (r *TokenReconciler) expirePrevious(tok *scimv1alpha1.ScimToken, now time.Time) {
	tl := tokenTimeline(&tok.Status)
	if !tl.ExpirePrevious(now) {
		return
	}
	r.Recorder.Eventf(tok, corev1.EventTypeNormal, "PreviousTokenExpired", "Previous token %s is no longer accepted", tok.Status.PreviousFingerprint)
	setTokenTimeline(&tok.Status, tl)
}

func (r *TokenReconciler) setReady(tok *scimv1alpha1.ScimToken, tenant *scimv1alpha1.ScimTenant, now time.Time) {
	st := &tok.Status
	if st.ExpiresAt != nil && !now.Before(st.ExpiresAt.Time) {
		if !meta.IsStatusConditionPresentAndEqual(tok.Status.Conditions, scimv1alpha1.ConditionReady, metav1.ConditionFalse) {
			r.Recorder.Eventf(tok, corev1.EventTypeWarning, "Expired", "Token %s expired at %s", st.Fingerprint, st.ExpiresAt.UTC().Format(time.RFC3339))
		}
		setTokenReady(tok, metav1.ConditionFalse, scimv1alpha1.ReasonExpired,
			"the token expired (expiresAfter); rotate it with: kubectl annotate scimtoken "+tok.Name+" "+scimv1alpha1.RotateAnnotation+"=<new value> --overwrite")
		return
	}
	setTokenReady(tok, metav1.ConditionTrue, scimv1alpha1.ReasonIssued,
		"token "+st.Fingerprint+" is in Secret "+tok.SecretName()+" and accepted by tenant "+tenant.Name)
}

func setTokenReady(tok *scimv1alpha1.ScimToken, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&tok.Status.Conditions, metav1.Condition{
		Type: scimv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: tok.Generation,
	})
}

// nextTokenDeadline is the next instant the token's state changes by itself.
func nextTokenDeadline(tok *scimv1alpha1.ScimToken) time.Time {
	return tokenTimeline(&tok.Status).NextDeadline()
}

func desiredTokenSecret(tok *scimv1alpha1.ScimToken, tenant *scimv1alpha1.ScimTenant, value string) *corev1.Secret {
	data := map[string][]byte{scimv1alpha1.SecretKeyTenantURL: []byte(tenantURL(tenant))}
	if value != "" {
		data[scimv1alpha1.SecretKeyToken] = []byte(value)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: tok.SecretName(), Namespace: tok.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedByValue, LabelTenant: tenant.Name, LabelToken: tok.Name,
				LabelComponent: "token",
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

func (r *TokenReconciler) apply(ctx context.Context, tok *scimv1alpha1.ScimToken, s *corev1.Secret) error {
	if err := controllerutil.SetControllerReference(tok, s, r.Scheme); err != nil {
		return err
	}
	_, err := (&applier{client: r.Client, reader: r.Reader, scheme: r.Scheme}).apply(ctx, s)
	return err
}

func (r *TokenReconciler) patchStatus(ctx context.Context, before, tok *scimv1alpha1.ScimToken) error {
	if equality.Semantic.DeepEqual(before.Status, tok.Status) {
		return nil // nothing changed: spare the API server a write and watchers an event
	}
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, tok, client.MergeFrom(before)))
}

// requeueAt asks to be reconciled again at the given instant (never if zero).
func requeueAt(now, at time.Time) reconcile.Result {
	if at.IsZero() {
		return reconcile.Result{}
	}
	d := at.Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return reconcile.Result{RequeueAfter: d}
}
