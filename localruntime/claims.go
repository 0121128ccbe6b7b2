package localruntime

import (
	"context"
	"os"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// pvcProtection is the finalizer kube-apiserver's admission adds to claims;
// the pvc-protection controller removes it once no pod uses the claim.
const pvcProtection = "kubernetes.io/pvc-protection"

// reconcileClaim is the volume controller's part: a claim is bound to a
// directory at once; a deleted claim's directory goes once no server uses it.
func (r *Runtime) reconcileClaim(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.client.Get(ctx, req.NamespacedName, pvc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !pvc.DeletionTimestamp.IsZero() {
		if r.claimInUse(req.Namespace, req.Name) {
			return reconcile.Result{RequeueAfter: volumeRecheck}, nil
		}
		// Reclaim policy Delete: the data goes with the claim.
		if err := os.RemoveAll(r.VolumeDir(req.Namespace, req.Name)); err != nil {
			return reconcile.Result{}, err
		}
		if controllerutil.ContainsFinalizer(pvc, pvcProtection) {
			before := pvc.DeepCopy()
			controllerutil.RemoveFinalizer(pvc, pvcProtection)
			if err := r.client.Patch(ctx, pvc, client.MergeFrom(before)); err != nil {
				return reconcile.Result{}, client.IgnoreNotFound(err)
			}
			r.log.Info("Deleted volume", "claim", req.NamespacedName)
		}
		return reconcile.Result{}, nil
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		return reconcile.Result{}, nil
	}
	if err := os.MkdirAll(r.VolumeDir(req.Namespace, req.Name), 0o755); err != nil {
		return reconcile.Result{}, err
	}
	before := pvc.DeepCopy()
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.AccessModes = pvc.Spec.AccessModes
	pvc.Status.Capacity = pvc.Spec.Resources.Requests
	if err := r.client.Status().Patch(ctx, pvc, client.MergeFrom(before)); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	r.log.Info("Bound volume", "claim", req.NamespacedName, "path", r.VolumeDir(req.Namespace, req.Name))
	return reconcile.Result{}, nil
}

func (r *Runtime) claimInUse(ns, claim string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, pods := range r.pods {
		for _, p := range pods {
			if p != nil && k.Namespace == ns && slices.Contains(p.claims, claim) {
				return true
			}
		}
	}
	return false
}
