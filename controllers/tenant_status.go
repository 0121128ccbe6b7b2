package controllers

import (
	"fmt"

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
}

// setTenantStatus computes the whole status from what was observed: a pure
// function, so every condition's reason is table-tested without a cluster.
func setTenantStatus(t *scimv1alpha1.ScimTenant, obs *observed) {
	st := &t.Status
	st.ObservedGeneration = t.Generation
	st.ActiveTokens = obs.activeTokens
	st.TenantURL = tenantURL(t)
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
		ready(metav1.ConditionFalse, scimv1alpha1.ReasonNoToken,
			"no ScimToken is accepted by this tenant: create one with spec.tenantRef.name: "+t.Name)
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

// refusal is why a tenant is not rolled out: a condition reason and message.
type refusal struct{ reason, message string }

func phaseOrMissing(p corev1.PersistentVolumeClaimPhase) string {
	if p == "" {
		return "missing"
	}
	return string(p)
}
