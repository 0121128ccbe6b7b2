package controllers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// URL ownership. A tenant with spec.ingress claims every URL under
// <host><path>/ (its Ingress routes the Prefix <path>/scim/v2, and a tenant's
// path is the part a user chooses). Two tenants whose claims overlap on one
// host would split, or steal, each other's Entra traffic with its bearer
// tokens, so only the older one is given an Ingress. The check reads the
// manager's cache only: it sees every tenant in the namespaces the operator
// watches, which are the only tenants whose Ingresses it writes.

// tenantHostIndex indexes ScimTenants by spec.ingress.host; tenants without
// an Ingress claim no URL and are not indexed.
const tenantHostIndex = "spec.ingress.host"

func tenantHost(o client.Object) []string {
	t := o.(*scimv1alpha1.ScimTenant)
	if t.Spec.Ingress == nil {
		return nil
	}
	return []string{t.Spec.Ingress.Host}
}

// IngressPathPolicy says which paths a tenant may claim on a shared host.
type IngressPathPolicy string

const (
	// IngressPathAny lets a tenant claim any path that no older tenant holds.
	IngressPathAny IngressPathPolicy = "Any"
	// IngressPathNamespacePrefix also confines paths to /<namespace> and
	// below, so tenants of different namespaces can never overlap.
	IngressPathNamespacePrefix IngressPathPolicy = "NamespacePrefix"
)

// ParseIngressPathPolicy checks a --ingress-path-policy value.
func ParseIngressPathPolicy(s string) (IngressPathPolicy, error) {
	switch p := IngressPathPolicy(s); p {
	case IngressPathAny, IngressPathNamespacePrefix:
		return p, nil
	}
	return "", fmt.Errorf("ingress path policy %q: want %s or %s", s, IngressPathAny, IngressPathNamespacePrefix)
}

// pathNotAllowed says why the policy refuses t's path, or "".
func (p IngressPathPolicy) pathNotAllowed(t *scimv1alpha1.ScimTenant) string {
	if p != IngressPathNamespacePrefix || t.Spec.Ingress == nil {
		return ""
	}
	if prefix := "/" + t.Namespace; !pathCovers(prefix, tenantPath(t)) {
		return fmt.Sprintf("spec.ingress.path %q is outside %s: this operator confines tenant paths to their namespace (--ingress-path-policy=%s); use %s/%s or leave the path empty",
			t.Spec.Ingress.Path, prefix, IngressPathNamespacePrefix, prefix, t.Name)
	}
	return ""
}

// segments splits a tenant path ("" for "/") into its segments.
func segments(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// pathCovers reports whether prefix matches path the way an Ingress Prefix
// path does: element-wise, so /a covers /a and /a/b but not /ab.
func pathCovers(prefix, path string) bool {
	p, s := segments(prefix), segments(path)
	return len(p) <= len(s) && slices.Equal(p, s[:len(p)])
}

// overlaps reports whether two paths, as segments, share a URL: one covers
// the other.
func overlaps(a, b []string) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// compareAge orders tenants oldest first: creation time, then namespace/name,
// so every reconcile of every tenant agrees on who came first.
func compareAge(a, b *scimv1alpha1.ScimTenant) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

// urlHolder returns the tenant that holds a URL t claims, or nil when t may
// serve its URL. Tenants on t's host are granted their URLs oldest first; a
// tenant is granted its URL unless it overlaps one granted before it, so a
// tenant that yields blocks nobody. Only tenants that serve, or may serve,
// their URL take part (eligible): see urlConflict.
func urlHolder(t *scimv1alpha1.ScimTenant, sameHost []scimv1alpha1.ScimTenant, eligible func(*scimv1alpha1.ScimTenant) bool) *scimv1alpha1.ScimTenant {
	if t.Spec.Ingress == nil {
		return nil
	}
	// Each tenant's path is split once: a reconcile compares every pair of
	// tenants on the host older than t (BenchmarkURLHolder).
	type claim struct {
		tenant   *scimv1alpha1.ScimTenant
		segments []string
	}
	claims := []claim{{t, segments(tenantPath(t))}}
	for i := range sameHost {
		u := &sameHost[i]
		if u.UID == t.UID || (u.Namespace == t.Namespace && u.Name == t.Name) || !u.DeletionTimestamp.IsZero() ||
			u.Spec.Ingress == nil || u.Spec.Ingress.Host != t.Spec.Ingress.Host || compareAge(u, t) > 0 || !eligible(u) {
			continue
		}
		claims = append(claims, claim{u, segments(tenantPath(u))})
	}
	slices.SortFunc(claims, func(a, b claim) int { return compareAge(a.tenant, b.tenant) })
	var granted []claim
	for _, c := range claims {
		i := slices.IndexFunc(granted, func(g claim) bool { return overlaps(g.segments, c.segments) })
		if c.tenant == t {
			if i >= 0 {
				return granted[i].tenant
			}
			return nil
		}
		if i < 0 {
			granted = append(granted, c)
		}
	}
	return nil
}

// urlConflict says which older tenant holds t's URL, "" when none does.
func (r *TenantReconciler) urlConflict(ctx context.Context, t *scimv1alpha1.ScimTenant) (string, error) {
	if t.Spec.Ingress == nil {
		return "", nil
	}
	var list scimv1alpha1.ScimTenantList
	if err := r.Client.List(ctx, &list, client.MatchingFields{tenantHostIndex: t.Spec.Ingress.Host}); err != nil {
		return "", err
	}
	holder := urlHolder(t, list.Items, func(u *scimv1alpha1.ScimTenant) bool { return r.mayServe(ctx, u) })
	if holder == nil {
		return "", nil
	}
	return fmt.Sprintf("URL %s%s/ overlaps ScimTenant %s/%s (%s%s/), which is older and keeps serving it: choose another spec.ingress.host or spec.ingress.path; this tenant gets its Ingress as soon as the overlap is gone",
		t.Spec.Ingress.Host, tenantPath(t), holder.Namespace, holder.Name, holder.Spec.Ingress.Host, tenantPath(holder)), nil
}

// mayServe says whether u takes part in granting URLs: a tenant the operator
// accepts does; one it refuses (an image or path it does not allow, a spec
// it cannot serve) rolls nothing out and nothing back, so it holds its URL
// only while an Ingress it had still routes to it. A refused tenant that
// never had one, for example one claiming another namespace's path under
// NamespacePrefix, blocks nobody.
func (r *TenantReconciler) mayServe(ctx context.Context, u *scimv1alpha1.ScimTenant) bool {
	if r.refusal(u) == nil {
		return true
	}
	ing := &networkingv1.Ingress{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: serverName(u)}, ing)
	return err == nil && metav1.IsControlledBy(ing, u)
}

// tenantsOnHost re-queues the other tenants on a tenant's host when it is
// created, changes (old and new host both) or is deleted: one of them may
// have been waiting for its URL.
func (r *TenantReconciler) tenantsOnHost(ctx context.Context, o client.Object) []reconcile.Request {
	hosts := tenantHost(o)
	if len(hosts) == 0 {
		return nil
	}
	var list scimv1alpha1.ScimTenantList
	if err := r.Client.List(ctx, &list, client.MatchingFields{tenantHostIndex: hosts[0]}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, u := range list.Items {
		if u.Namespace != o.GetNamespace() || u.Name != o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&u)})
		}
	}
	return reqs
}
