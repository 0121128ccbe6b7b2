package localruntime

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// bodySizeAnnotation is honoured like ingress-nginx does, so a tenant's body
// limit is exercised locally too.
const bodySizeAnnotation = "nginx.ingress.kubernetes.io/proxy-body-size"

// reconcileIngress publishes the local address in the Ingress's status, as
// an ingress controller publishes its load balancer's.
func (r *Runtime) reconcileIngress(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ing := &networkingv1.Ingress{}
	if err := r.client.Get(ctx, req.NamespacedName, ing); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	lb := ing.Status.LoadBalancer.Ingress
	if len(lb) == 1 && lb[0].IP == "127.0.0.1" {
		return reconcile.Result{}, nil
	}
	before := ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "127.0.0.1"}}
	return reconcile.Result{}, client.IgnoreNotFound(r.client.Status().Patch(ctx, ing, client.MergeFrom(before)))
}

// route is what a request matched.
type route struct {
	ing     *networkingv1.Ingress
	service string
	pathLen int
}

// ingressHandler proxies each request to the server behind the Ingress rule
// matching its Host header and path: the longest matching path wins, paths
// are compared as sent (no case folding), any User-Agent (or none) is fine,
// and every header, Authorization included, passes through.
func (r *Runtime) ingressHandler() http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(backendKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host // as ingress-nginx: the backend sees the public host
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			r.log.V(1).Info("Ingress: backend error", "error", err.Error())
			http.Error(w, "502 bad gateway: "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rt, ok := r.match(req.Context(), req)
		if !ok {
			http.Error(w, "404 no ingress rule matches host "+req.Host+" and path "+req.URL.Path, http.StatusNotFound)
			return
		}
		addr := r.backend(req.Context(), rt.ing.Namespace, rt.service)
		if addr == "" {
			http.Error(w, "503 no ready server behind service "+rt.ing.Namespace+"/"+rt.service, http.StatusServiceUnavailable)
			return
		}
		if limit, ok := parseSize(rt.ing.Annotations[bodySizeAnnotation]); ok && limit > 0 {
			if req.ContentLength > limit {
				http.Error(w, "413 request entity too large", http.StatusRequestEntityTooLarge)
				return
			}
			req.Body = http.MaxBytesReader(w, req.Body, limit)
		}
		ctx := context.WithValue(req.Context(), backendKey{}, &url.URL{Scheme: "http", Host: addr})
		proxy.ServeHTTP(w, req.WithContext(ctx))
	})
}

type backendKey struct{}

// match finds the Ingress path for a request.
func (r *Runtime) match(ctx context.Context, req *http.Request) (route, bool) {
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	var list networkingv1.IngressList
	if err := r.client.List(ctx, &list); err != nil {
		return route{}, false
	}
	best := route{pathLen: -1}
	for i := range list.Items {
		ing := &list.Items[i]
		if !ing.DeletionTimestamp.IsZero() {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if !hostMatches(rule.Host, host) || rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil || !pathMatches(p, req.URL.Path) {
					continue
				}
				if len(p.Path) > best.pathLen {
					best = route{ing: ing, service: p.Backend.Service.Name, pathLen: len(p.Path)}
				}
			}
		}
	}
	return best, best.ing != nil
}

func hostMatches(rule, host string) bool {
	rule = strings.ToLower(rule)
	switch {
	case rule == "":
		return true
	case strings.HasPrefix(rule, "*."):
		// A wildcard covers exactly one label.
		rest, ok := strings.CutSuffix(host, rule[1:])
		return ok && rest != "" && !strings.Contains(rest, ".")
	}
	return rule == host
}

// pathMatches implements the Ingress path types: Exact, and Prefix
// (element-wise: /a/b matches /a/b and /a/b/c, not /a/bc).
// ImplementationSpecific is treated as Prefix.
func pathMatches(p networkingv1.HTTPIngressPath, path string) bool {
	want := p.Path
	if want == "" {
		want = "/"
	}
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		return path == want
	}
	want = strings.TrimSuffix(want, "/")
	return want == "" || path == want || strings.HasPrefix(path, want+"/")
}

// backend is the address of a ready server selected by the Service, as
// kube-proxy picks one: round robin across the pods that are ready and
// still running (a killed process drops out at once, before its next probe).
func (r *Runtime) backend(ctx context.Context, ns, name string) string {
	svc := &corev1.Service{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil || len(svc.Spec.Selector) == 0 {
		return ""
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var ready []*pod
	r.mu.Lock()
	for k, pods := range r.pods {
		for _, p := range pods {
			if p != nil && k.Namespace == ns && p.ready && p.running() && sel.Matches(labels.Set(p.labels)) {
				ready = append(ready, p)
			}
		}
	}
	if len(ready) == 0 {
		r.mu.Unlock()
		return ""
	}
	key := client.ObjectKeyFromObject(svc)
	n := r.next[key]
	r.next[key] = n + 1
	r.mu.Unlock()
	// Map order is random: sort, so round robin visits each pod in turn.
	slices.SortFunc(ready, func(a, b *pod) int { return strings.Compare(a.name, b.name) })
	return ready[n%uint64(len(ready))].addr
}

// parseSize reads an nginx size ("4m", "512k", "1g", "100"); "0" means no limit.
func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k':
		mult, s = 1<<10, s[:len(s)-1]
	case 'm':
		mult, s = 1<<20, s[:len(s)-1]
	case 'g':
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}
