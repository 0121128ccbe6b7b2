package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// applier writes desired objects with server-side apply under one field owner.
type applier struct {
	client client.Client
	// reader reads objects the cache does not hold (Secrets the operator did
	// not label), so a name clash with a user's Secret is seen, not overwritten.
	reader client.Reader
	scheme *runtime.Scheme
}

// errNotOwned reports an existing object, of the same name as one the
// operator wants to create, that the operator does not manage.
type errNotOwned struct{ kind, name string }

func (e *errNotOwned) Error() string {
	return fmt.Sprintf("%s %s exists and is not managed by the operator: delete or rename it, or choose another name", e.kind, e.name)
}

// apply server-side-applies obj, typed and fully desired, and says whether it
// created it. An existing object without the operator's managed-by label is
// left alone and reported as errNotOwned.
func (a *applier) apply(ctx context.Context, obj client.Object) (created bool, err error) {
	gvk, err := apiutil.GVKForObject(obj, a.scheme)
	if err != nil {
		return false, err
	}
	existing := &unstructured.Unstructured{}
	existing.SetGroupVersionKind(gvk)
	err = a.client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) && a.reader != nil {
		err = a.reader.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	}
	switch {
	case apierrors.IsNotFound(err):
		created = true
	case err != nil:
		return false, err
	case existing.GetLabels()[LabelManagedBy] != ManagedByValue:
		return false, &errNotOwned{kind: gvk.Kind, name: obj.GetName()}
	}

	u, err := toApplyObject(obj, gvk.GroupVersion().String(), gvk.Kind)
	if err != nil {
		return false, err
	}
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return created, nil
}

// toApplyObject turns a typed object into the unstructured apply request:
// status, null fields and server-set metadata removed, so the operator owns
// exactly the fields it sets.
func toApplyObject(obj client.Object, apiVersion, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	pruneNulls(m)
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetResourceVersion("")
	u.SetManagedFields(nil)
	u.SetCreationTimestamp(metav1.Time{})
	pruneNulls(u.Object)
	return u, nil
}

func pruneNulls(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneNulls(x)
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					pruneNulls(em)
				}
			}
		}
	}
}
