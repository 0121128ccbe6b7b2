package localruntime

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// setupControllers registers the kubelet, volume, ingress and GC parts.
func (r *Runtime) setupControllers() error {
	opts := controller.Options{MaxConcurrentReconciles: 4}
	mapVolume := handler.EnqueueRequestsFromMapFunc(r.deploymentsMounting)
	err := ctrl.NewControllerManagedBy(r.mgr).
		Named("localruntime-kubelet").
		WithOptions(opts).
		For(&appsv1.Deployment{}).
		Watches(&corev1.ConfigMap{}, mapVolume).
		Watches(&corev1.Secret{}, mapVolume).
		Watches(&corev1.PersistentVolumeClaim{}, mapVolume).
		WatchesRawSource(source.Channel(r.exits, &handler.TypedEnqueueRequestForObject[*appsv1.Deployment]{})).
		Complete(reconcile.Func(r.reconcileDeployment))
	if err != nil {
		return err
	}
	err = ctrl.NewControllerManagedBy(r.mgr).
		Named("localruntime-volumes").
		WithOptions(opts).
		For(&corev1.PersistentVolumeClaim{}).
		Complete(reconcile.Func(r.reconcileClaim))
	if err != nil {
		return err
	}
	err = ctrl.NewControllerManagedBy(r.mgr).
		Named("localruntime-ingress").
		WithOptions(opts).
		For(&networkingv1.Ingress{}).
		Complete(reconcile.Func(r.reconcileIngress))
	if err != nil {
		return err
	}
	return r.mgr.Add(manager.RunnableFunc(r.runGC))
}

// deploymentsMounting maps a ConfigMap, Secret or claim to the Deployments
// whose pods mount it, so an update reaches their volumes at once (the
// kubelet takes up to a minute; tests should not).
func (r *Runtime) deploymentsMounting(ctx context.Context, o client.Object) []reconcile.Request {
	var list appsv1.DeploymentList
	if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, d := range list.Items {
		if slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return mounts(v, o) }) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&d)})
		}
	}
	return reqs
}

func mounts(v corev1.Volume, o client.Object) bool {
	switch o.(type) {
	case *corev1.ConfigMap:
		return v.ConfigMap != nil && v.ConfigMap.Name == o.GetName()
	case *corev1.Secret:
		return v.Secret != nil && v.Secret.SecretName == o.GetName()
	case *corev1.PersistentVolumeClaim:
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == o.GetName()
	}
	return false
}
