package localruntime

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// runGC is a minimal garbage collector for the operator's objects: every
// GCInterval it deletes those whose controlling ScimTenant or ScimToken no
// longer exists (or was re-created with another UID). Objects without a
// controller reference, such as a retained data claim, are left alone.
func (r *Runtime) runGC(ctx context.Context) error {
	t := time.NewTicker(r.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.collect(ctx)
		}
	}
}

// gcLists are the kinds the operator creates.
func gcLists() []client.ObjectList {
	return []client.ObjectList{
		&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.SecretList{},
		&corev1.ServiceAccountList{}, &networkingv1.IngressList{}, &corev1.PersistentVolumeClaimList{},
	}
}

func (r *Runtime) collect(ctx context.Context) {
	for _, list := range gcLists() {
		if err := r.client.List(ctx, list); err != nil {
			r.log.Error(err, "GC: list failed")
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			continue
		}
		for _, item := range items {
			obj := item.(client.Object)
			ref := metav1.GetControllerOf(obj)
			if ref == nil || !obj.GetDeletionTimestamp().IsZero() || !isOperatorOwner(ref) {
				continue
			}
			if r.ownerExists(ctx, obj.GetNamespace(), ref) {
				continue
			}
			uid := obj.GetUID()
			err := r.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
				client.Preconditions{UID: &uid})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				r.log.Error(err, "GC: delete failed", "object", client.ObjectKeyFromObject(obj))
				continue
			}
			r.log.Info("GC: deleted object whose owner is gone", "kind", kindOf(obj),
				"object", client.ObjectKeyFromObject(obj), "owner", ref.Kind+"/"+ref.Name)
		}
	}
}

func isOperatorOwner(ref *metav1.OwnerReference) bool {
	gv, err := parseGroup(ref.APIVersion)
	return err == nil && gv == scimv1alpha1.GroupVersion.Group && (ref.Kind == "ScimTenant" || ref.Kind == "ScimToken")
}

func parseGroup(apiVersion string) (string, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return gv.Group, err
}

// ownerExists checks the cache first and, before deleting anything,
// confirms an absence with a live read, as the real collector does: the
// cache may not have seen a brand-new owner yet.
func (r *Runtime) ownerExists(ctx context.Context, ns string, ref *metav1.OwnerReference) bool {
	var owner client.Object = &scimv1alpha1.ScimTenant{}
	if ref.Kind == "ScimToken" {
		owner = &scimv1alpha1.ScimToken{}
	}
	key := client.ObjectKey{Namespace: ns, Name: ref.Name}
	if err := r.client.Get(ctx, key, owner); err == nil && owner.GetUID() == ref.UID {
		return true
	}
	err := r.reader.Get(ctx, key, owner)
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		return true // unsure: keep
	}
	return owner.GetUID() == ref.UID
}

func kindOf(o client.Object) string {
	switch o.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *corev1.Service:
		return "Service"
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *corev1.Secret:
		return "Secret"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *networkingv1.Ingress:
		return "Ingress"
	case *corev1.PersistentVolumeClaim:
		return "PersistentVolumeClaim"
	}
	return "object"
}
