package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// ScimTokens and ScimWebhooks both belong to a ScimTenant of their namespace
// and each keep their secret in a Secret of their own; these helpers are the
// parts of their reconcilers that are the same for both.

// referencedTenant returns the ScimTenant an object of namespace refers to
// by name. When it does not exist it returns nil and the Ready message that
// tells the user what to do; the error is for other failures only.
func referencedTenant(ctx context.Context, c client.Reader, namespace, name string) (*scimv1alpha1.ScimTenant, string, error) {
	tenant := &scimv1alpha1.ScimTenant{}
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, tenant)
	if apierrors.IsNotFound(err) {
		return nil, "ScimTenant " + name + " does not exist in namespace " + namespace + ": create it, or fix spec.tenantRef", nil
	}
	if err != nil {
		return nil, "", err
	}
	return tenant, "", nil
}

// ownedSecret reads the Secret owner keeps its secret in; an empty one if it
// does not exist, errNotOwned if it exists and the operator does not manage
// it for owner. cached is the manager's client, whose cache holds only the
// operator's Secrets, so a miss is confirmed with uncached.
func ownedSecret(ctx context.Context, cached, uncached client.Reader, key client.ObjectKey, owner metav1.Object) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	err := cached.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		// Not in the cache: either absent or a Secret the operator does not manage.
		err = uncached.Get(ctx, key, s)
		if apierrors.IsNotFound(err) {
			return &corev1.Secret{}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Labels[LabelManagedBy] != ManagedByValue || !metav1.IsControlledBy(s, owner) {
		return nil, &errNotOwned{kind: "Secret", name: s.Name}
	}
	return s, nil
}
