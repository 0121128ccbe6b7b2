package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// observed is what one reconcile saw of the objects it manages.
type observed struct {
	// refused: the tenant is not rolled out at all (reason, message).
	refused *refusal
	// urlConflict names the older tenant that holds the tenant's URL: the
	// tenant runs, without an Ingress.
	urlConflict      string
	applyErr         error
	deployment       *appsv1.Deployment
	claimPhase       corev1.PersistentVolumeClaimPhase
	ingressAddressed bool
	activeTokens     int32
	// unusableTokens are the tenant's ScimTokens the server does not accept,
	// so a NoToken message can say what to do about each.
	unusableTokens []unusableToken
}

// unusableToken is a ScimToken of the tenant that the server does not accept, and why.
type unusableToken struct {
	name string
	why  string // one of the unusable* constants
}

// Why a ScimToken of the tenant is not accepted.
const (
	unusableRevoked   = "revoked"
	unusableExpired   = "expired"
	unusableNotIssued = "not issued yet"
)

// setTenantStatus computes the whole status from what was observed: a pure
// function, so every condition's reason is table-tested without a cluster.
func setTenantStatus(t *scimv1alpha1.ScimTenant, obs *observed) {
	st := &t.Status
	st.ObservedGeneration = t.Generation
	st.ActiveTokens = obs.activeTokens
	st.TenantURL = tenantURL(t)
	setURLSecurity(t)
	st.Storage = storageStatus(t)
	st.ReadyReplicas = 0
	if d := obs.deployment; d != nil {
		st.ReadyReplicas = d.Status.ReadyReplicas
	}
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: t.Generation,
		})
	}
	degraded := func(reason, msg string) {
		set(scimv1alpha1.ConditionDegraded, metav1.ConditionTrue, reason, msg)
	}
	ready := func(status metav1.ConditionStatus, reason, msg string) {
		set(scimv1alpha1.ConditionReady, status, reason, msg)
	}

	switch {
	case obs.refused != nil:
		ready(metav1.ConditionFalse, obs.refused.reason, obs.refused.message)
		degraded(obs.refused.reason, obs.refused.message)
		set(scimv1alpha1.ConditionProgressing, metav1.ConditionFalse, obs.refused.reason, "nothing is rolled out until the spec is accepted")
		return
	case obs.applyErr != nil:
		msg := "cannot write the tenant's objects: " + obs.applyErr.Error()
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonApplyFailed, msg)
		degraded(scimv1alpha1.ReasonApplyFailed, msg)
		return
	}

	d := obs.deployment
	want := ptr.Deref(t.Spec.Replicas, 1)
	rolledOut := d != nil && d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas == want && d.Status.Replicas == want && d.Status.AvailableReplicas == want
	if rolledOut {
		set(scimv1alpha1.ConditionProgressing, metav1.ConditionFalse, scimv1alpha1.ReasonRolledOut, "the current configuration runs on every replica")
	} else {
		set(scimv1alpha1.ConditionProgressing, metav1.ConditionTrue, scimv1alpha1.ReasonRollingOut, "Deployment "+serverName(t)+" is rolling out")
	}

	switch {
	case obs.urlConflict != "":
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonURLConflict, obs.urlConflict)
	case want == 0:
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonScaledToZero, "spec.replicas is 0: Entra's requests fail until it is raised")
	case t.Spec.SQLite() != nil && obs.claimPhase != corev1.ClaimBound:
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonVolumePending,
			fmt.Sprintf("PersistentVolumeClaim %s is %s: check its events and that storage class %q can provision volumes", dataClaimName(t), phaseOrMissing(obs.claimPhase), ptr.Deref(t.Spec.SQLite().StorageClassName, "(default)")))
	case d == nil || d.Status.AvailableReplicas < 1:
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonDeploymentUnavailable,
			"Deployment "+serverName(t)+" has no available replica: kubectl describe deployment "+serverName(t))
	case obs.activeTokens == 0:
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonNoToken, noTokenMessage(t, obs.unusableTokens))
	default:
		ready(metav1.ConditionTrue, scimv1alpha1.ReasonAvailable, "paste the Tenant URL and a ScimToken's Secret token into Entra")
	}

	switch {
	case obs.urlConflict != "":
		degraded(scimv1alpha1.ReasonURLConflict, obs.urlConflict)
	case t.Spec.Ingress != nil && !obs.ingressAddressed:
		degraded(scimv1alpha1.ReasonIngressPending,
			"Ingress "+serverName(t)+" has no address yet: check that an ingress controller serves its class and that "+t.Spec.Ingress.Host+" resolves to it")
	default:
		set(scimv1alpha1.ConditionDegraded, metav1.ConditionFalse, scimv1alpha1.ReasonAsExpected, "nothing needs attention")
	}
}

// setURLSecurity sets InsecureTenantURL: True while the Tenant URL is plain
// http, which Entra refuses. It is a condition of its own, not a reason of
// Ready, because such a tenant still serves in-cluster clients (and the local
// run, where plain http is expected): Ready keeps meaning "the server serves".
func setURLSecurity(t *scimv1alpha1.ScimTenant) {
	c := metav1.Condition{Type: scimv1alpha1.ConditionInsecureTenantURL, ObservedGeneration: t.Generation}
	switch ing := t.Spec.Ingress; {
	case ing == nil:
		c.Status, c.Reason = metav1.ConditionTrue, scimv1alpha1.ReasonNoIngress
		c.Message = "the Tenant URL is the in-cluster Service over plain http, which Entra cannot reach and refuses: add spec.ingress with host and tls.secretName"
	case ing.TLS == nil:
		c.Status, c.Reason = metav1.ConditionTrue, scimv1alpha1.ReasonNoTLS
		c.Message = "the Tenant URL is http://" + ing.Host + ", which Entra refuses (it requires https with a publicly trusted certificate): add spec.ingress.tls.secretName, and for example the annotation cert-manager.io/cluster-issuer"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, scimv1alpha1.ReasonTLS
		c.Message = "the Tenant URL is https; the Ingress terminates TLS with Secret " + ing.TLS.SecretName
	}
	meta.SetStatusCondition(&t.Status.Conditions, c)
}

// noTokenMessage says what to do when the server accepts no token: create a
// ScimToken, or act on the ones that exist but are not accepted.
func noTokenMessage(t *scimv1alpha1.ScimTenant, unusable []unusableToken) string {
	if len(unusable) == 0 {
		return "no ScimToken is accepted by this tenant: create one with spec.tenantRef.name: " + t.Name
	}
	var b strings.Builder
	b.WriteString("no ScimToken is accepted by this tenant: ")
	for i, u := range unusable {
		if i > 0 {
			b.WriteString("; ")
		}
		switch u.why {
		case unusableRevoked:
			fmt.Fprintf(&b, `ScimToken %s is revoked: set spec.revoked to false to issue a fresh token under it (kubectl patch scimtoken %s --type merge -p '{"spec":{"revoked":false}}')`, u.name, u.name)
		case unusableExpired:
			fmt.Fprintf(&b, `ScimToken %s expired (spec.expiresAfter): rotate it (kubectl annotate scimtoken %s %s="$(date +%%s)" --overwrite)`, u.name, u.name, scimv1alpha1.RotateAnnotation)
		default:
			fmt.Fprintf(&b, "ScimToken %s has no token yet: see its Ready condition (kubectl describe scimtoken %s)", u.name, u.name)
		}
	}
	fmt.Fprintf(&b, "; or create a new ScimToken with spec.tenantRef.name: %s. Then paste the new token from its Secret into Entra", t.Name)
	return b.String()
}

// unusableTokens lists the tenant's ScimTokens whose current token the
// server does not accept at now, by name: the cache lists in no fixed order,
// and a message that changed with it would rewrite the status each reconcile.
func unusableTokens(tokens []scimv1alpha1.ScimToken, now time.Time) []unusableToken {
	var out []unusableToken
	for i := range tokens {
		tok := &tokens[i]
		switch {
		case !tok.DeletionTimestamp.IsZero():
		case tok.Spec.Revoked:
			out = append(out, unusableToken{tok.Name, unusableRevoked})
		case tok.Status.Hash == "":
			out = append(out, unusableToken{tok.Name, unusableNotIssued})
		case tok.Status.ExpiresAt != nil && !now.Before(tok.Status.ExpiresAt.Time):
			out = append(out, unusableToken{tok.Name, unusableExpired})
		}
	}
	slices.SortFunc(out, func(a, b unusableToken) int { return strings.Compare(a.name, b.name) })
	return out
}

// refusal is why a tenant is not rolled out: a condition reason and message.
type refusal struct{ reason, message string }

func phaseOrMissing(p corev1.PersistentVolumeClaimPhase) string {
	if p == "" {
		return "missing"
	}
	return string(p)
}
