package controllers

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/deliverystatus"
)

var (
	webhookRotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scim_operator_webhook_secret_rotations_total",
		Help: "Webhook signing secrets issued, by ScimWebhook and reason (FirstIssue, RotateRequested, IntervalElapsed, ...).",
	}, []string{"namespace", "name", "reason"})
	webhookLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_webhook_lag_events",
		Help: "Events not yet acknowledged by a ScimWebhook's receiver, as last reported by its tenant server.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(webhookRotations, webhookLag)
}

func recordWebhookMetrics(wh *scimv1alpha1.ScimWebhook) {
	if wh.Status.StatusObservedAt != nil {
		webhookLag.WithLabelValues(wh.Namespace, wh.Name).Set(float64(wh.Status.Lag))
	}
}

func forgetWebhookMetrics(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	webhookLag.Delete(labels)
	webhookRotations.DeletePartialMatch(labels)
}

func setWebhookReady(wh *scimv1alpha1.ScimWebhook, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&wh.Status.Conditions, metav1.Condition{
		Type: scimv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: wh.Generation,
	})
}

// applyDeliveryReport copies what the tenant server reported about the
// webhook into its status (entry nil: the server does not run it yet).
func applyDeliveryReport(wh *scimv1alpha1.ScimWebhook, entry *deliverystatus.Webhook, at time.Time) {
	st := &wh.Status
	st.StatusObservedAt = &metav1.Time{Time: at}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: scimv1alpha1.ConditionStatusReported, Status: metav1.ConditionTrue, Reason: scimv1alpha1.ReasonReported,
		Message: "the tenant server reported delivery status", ObservedGeneration: wh.Generation,
	})
	if entry == nil {
		st.State, st.AckedSeq, st.Lag = "", 0, 0
		st.LastDeliveredAt, st.LastAttemptAt, st.FailingSince, st.LastError = nil, nil, nil, nil
		return
	}
	st.State, st.AckedSeq, st.Lag = entry.State, entry.Acked, entry.Lag
	st.LastDeliveredAt, st.LastAttemptAt, st.FailingSince = metaTime(entry.LastDeliveredAt), metaTime(entry.LastAttemptAt), metaTime(entry.FailingSince)
	st.LastError = nil
	if e := entry.LastError; e != nil {
		st.LastError = &scimv1alpha1.WebhookDeliveryError{Status: int32(e.Status), Message: truncate(e.Message, 256), At: metaTime(&e.At)}
	}
}

// markStatusUnreachable keeps the last reported delivery status and says,
// in StatusReported, that it could not be refreshed and why.
func markStatusUnreachable(wh *scimv1alpha1.ScimWebhook, err error) {
	since := "it was never read"
	if at := wh.Status.StatusObservedAt; at != nil {
		since = "the status shown was read at " + at.UTC().Format(time.RFC3339)
	}
	meta.SetStatusCondition(&wh.Status.Conditions, metav1.Condition{
		Type: scimv1alpha1.ConditionStatusReported, Status: metav1.ConditionFalse, Reason: scimv1alpha1.ReasonServerUnreachable,
		Message: truncate(fmt.Sprintf("cannot read delivery status from the tenant server (%v); %s. Check that the tenant's server is running (kubectl get scimtenant %s)",
			err, since, wh.Spec.TenantRef.Name), 1024),
		ObservedGeneration: wh.Generation,
	})
}

// needsUser reports whether Ready says the webhook cannot work until a user
// acts on its spec or its Secret (the reconciler's verdicts): delivery
// reports must not paper over that.
func needsUser(wh *scimv1alpha1.ScimWebhook) bool {
	c := meta.FindStatusCondition(wh.Status.Conditions, scimv1alpha1.ConditionReady)
	return c != nil && (c.Reason == scimv1alpha1.ReasonTenantNotFound || c.Reason == scimv1alpha1.ReasonSecretConflict || c.Reason == scimv1alpha1.ReasonInvalidSpec)
}

// setDeliveryConditions derives Ready from the spec and the last reported
// delivery state. Every message says what to do.
func setDeliveryConditions(wh *scimv1alpha1.ScimWebhook) {
	st := &wh.Status
	name := wh.Name
	switch {
	case wh.Spec.Paused:
		setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonPaused,
			"spec.paused is true: events wait in the tenant's change log (within its retention); set spec.paused to false to deliver them")
	case st.State == scimv1alpha1.DeliveryStateFailing:
		setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonDeliveryFailing, failingMessage(wh))
	case st.State == scimv1alpha1.DeliveryStateExpired:
		setWebhookReady(wh, metav1.ConditionFalse, scimv1alpha1.ReasonCursorExpired, fmt.Sprintf(
			"the receiver fell behind the tenant's change log retention: events after cursor %d were pruned before delivery. "+
				"Resync: 1) read the cursor from GET /v1/events/head; 2) re-read every user and group over SCIM into the application; "+
				"3) kubectl annotate scimwebhook %s %s=\"$(date +%%s)\" --overwrite to resume delivery from the retained log",
			st.AckedSeq, name, scimv1alpha1.ResumeAnnotation))
	case st.StatusObservedAt == nil || st.State == "" || st.State == scimv1alpha1.DeliveryStatePaused:
		// Not reported yet, or the server has not applied the spec yet.
		setWebhookReady(wh, metav1.ConditionUnknown, scimv1alpha1.ReasonAwaitingServer,
			"signing secret "+st.Fingerprint+" is in Secret "+st.SecretName+"; waiting for the tenant server to report this webhook's delivery")
	default:
		msg := fmt.Sprintf("delivering to %s: acknowledged up to cursor %d, %d event(s) waiting", wh.Spec.URL, st.AckedSeq, st.Lag)
		if st.LastDeliveredAt != nil {
			msg += ", last delivered " + st.LastDeliveredAt.UTC().Format(time.RFC3339)
		}
		if e := st.LastError; e != nil && st.State == scimv1alpha1.DeliveryStateDelivering && e.At != nil && (st.LastDeliveredAt == nil || !e.At.Before(st.LastDeliveredAt)) {
			msg += "; retrying after " + describeDeliveryError(e)
		}
		setWebhookReady(wh, metav1.ConditionTrue, scimv1alpha1.ReasonDelivering, msg)
	}
}

func failingMessage(wh *scimv1alpha1.ScimWebhook) string {
	st := &wh.Status
	msg := "delivery to " + wh.Spec.URL + " failed"
	if st.FailingSince != nil {
		msg += " since " + st.FailingSince.UTC().Format(time.RFC3339)
	}
	msg += fmt.Sprintf(" for longer than maxRetryDuration; %d event(s) wait, none dropped", st.Lag)
	if e := st.LastError; e != nil {
		msg += "; last error: " + describeDeliveryError(e)
	}
	return msg + fmt.Sprintf(". Fix the receiver, then: kubectl annotate scimwebhook %s %s=\"$(date +%%s)\" --overwrite", wh.Name, scimv1alpha1.ResumeAnnotation)
}

func describeDeliveryError(e *scimv1alpha1.WebhookDeliveryError) string {
	s := "no response"
	if e.Status != 0 {
		s = fmt.Sprintf("HTTP %d", e.Status)
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	if e.At != nil {
		s += " at " + e.At.UTC().Format(time.RFC3339)
	}
	return s
}

func metaTime(t *time.Time) *metav1.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	return &metav1.Time{Time: t.UTC()}
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
