package scimctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// connFlags choose how a command reaches a tenant's SCIM server.
type connFlags struct {
	url        string
	hostHeader string
	tokenFrom  string
	timeout    time.Duration
}

func (f *connFlags) add(cmd *cobra.Command, k *kube, tokenHelp string) {
	cmd.Flags().StringVar(&f.url, "url", "", "Call the tenant at this URL (the Tenant URL, or the Local URL that make demo prints) instead of a port-forward to its pod")
	cmd.Flags().StringVar(&f.hostHeader, "host-header", "", "Send this Host header (make demo's local ingress routes by it: the host of the Tenant URL)")
	cmd.Flags().StringVar(&f.tokenFrom, "token-from", "", tokenHelp)
	cmd.Flags().DurationVar(&f.timeout, "scim-timeout", 30*time.Second, "Timeout of each SCIM request")
	_ = cmd.RegisterFlagCompletionFunc("token-from", completeNames(k, tokenNames))
}

func (f *connFlags) check() error {
	if f.url != "" {
		u, err := url.Parse(f.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--url %q is not an http(s) URL such as http://127.0.0.1:8480/apps/acme/scim/v2", f.url)
		}
	}
	if f.hostHeader != "" && f.url == "" {
		return usagef("--host-header needs --url: the port-forward reaches the server directly")
	}
	if f.timeout <= 0 {
		return usagef("--scim-timeout must be positive")
	}
	return nil
}

// endpoint is a reachable tenant server.
type endpoint struct {
	// base is the SCIM base URL (…/scim/v2), without query.
	base *url.URL
	// origin is scheme://host of the server, for its operational
	// endpoints outside the SCIM base (/v1/activity).
	origin     *url.URL
	hostHeader string
	token      string
	http       *http.Client
	// via says how the server is reached, for messages.
	via   string
	close func()
}

// connect reaches the tenant: --url, or a port-forward to a ready pod behind
// its Service.
func (f *connFlags) connect(ctx context.Context, k *kube, t *scimv1alpha1.ScimTenant, stderr io.Writer) (*endpoint, error) {
	ep := &endpoint{hostHeader: f.hostHeader, http: &http.Client{Timeout: f.timeout}, close: func() {}}
	basePath := tenantBasePath(t)
	if f.url != "" {
		u, _ := url.Parse(f.url)
		// The admin may paste the Tenant URL with ?aadOptscim062020.
		u.RawQuery, u.Fragment = "", ""
		u.Path = strings.TrimRight(u.Path, "/")
		if u.Path == "" {
			u.Path = basePath
		}
		ep.base = u
		ep.origin = &url.URL{Scheme: u.Scheme, Host: u.Host}
		ep.via = u.String()
		if f.hostHeader != "" {
			ep.via += " (Host: " + f.hostHeader + ")"
		}
		return ep, nil
	}
	addr, stop, err := forwardToPod(ctx, k, t, stderr)
	if err != nil {
		return nil, err
	}
	ep.close = stop
	ep.origin = &url.URL{Scheme: "http", Host: addr}
	ep.base = &url.URL{Scheme: "http", Host: addr, Path: basePath}
	ep.via = "a port-forward to the pod of Service " + t.Name + "-scim (" + ep.base.String() + ")"
	return ep, nil
}

// tenantBasePath is the path of the SCIM API on the server: the path of the
// Tenant URL, or /<namespace>/<name>/scim/v2 before the status has one.
func tenantBasePath(t *scimv1alpha1.ScimTenant) string {
	if u, err := url.Parse(t.Status.TenantURL); err == nil && u.Path != "" {
		return strings.TrimRight(u.Path, "/")
	}
	if t.Spec.Ingress != nil && t.Spec.Ingress.Path != "" {
		return strings.TrimRight(t.Spec.Ingress.Path, "/") + "/scim/v2"
	}
	return "/" + t.Namespace + "/" + t.Name + "/scim/v2"
}

// errNoPod says what to do when there is no pod to forward to.
var errNoPod = errors.New("no ready pod")

// forwardToPod port-forwards a local port to the SCIM port of a ready pod
// of the tenant's Service, as kubectl port-forward svc/<tenant>-scim does.
func forwardToPod(ctx context.Context, k *kube, t *scimv1alpha1.ScimTenant, stderr io.Writer) (string, func(), error) {
	c, err := k.connect()
	if err != nil {
		return "", nil, err
	}
	svcName := t.Name + "-scim"
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: svcName}, svc); err != nil {
		return "", nil, fmt.Errorf("Service %s/%s of the tenant: %w (is the operator running? kubectl scim status %s)", t.Namespace, svcName, err, t.Name)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(t.Namespace), client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(svc.Spec.Selector)}); err != nil {
		return "", nil, fmt.Errorf("listing the pods of Service %s/%s: %w", t.Namespace, svcName, err)
	}
	pod, port := readyPod(pods.Items)
	if pod == nil {
		return "", nil, fmt.Errorf("%w behind Service %s/%s to port-forward to. If the tenant runs, check kubectl get pods -l %s; "+
			"in the local run (make demo) there are no Pods: pass --url with the Local URL the demo prints, "+
			"and --host-header with the host of the Tenant URL", errNoPod, t.Namespace, svcName, labels.SelectorFromSet(svc.Spec.Selector))
	}
	transport, upgrader, err := spdy.RoundTripperFor(k.config)
	if err != nil {
		return "", nil, err
	}
	reqURL := k.config.Host
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/") + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", pod.Namespace, pod.Name)
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stopCh, readyCh, io.Discard, stderr)
	if err != nil {
		return "", nil, err
	}
	errCh := make(chan error, 1)
	go func() { errCh <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-errCh:
		return "", nil, fmt.Errorf("port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	case <-ctx.Done():
		close(stopCh)
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stopCh)
		return "", nil, fmt.Errorf("port-forward to pod %s/%s: no local port: %v", pod.Namespace, pod.Name, err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local), func() { close(stopCh) }, nil
}

// readyPod picks a running, ready pod and its SCIM container port ("http").
func readyPod(pods []corev1.Pod) (*corev1.Pod, int32) {
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		if !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}) {
			continue
		}
		for _, ctr := range p.Spec.Containers {
			for _, port := range ctr.Ports {
				if port.Name == "http" {
					return p, port.ContainerPort
				}
			}
		}
	}
	return nil, 0
}

// tokenFor picks the bearer token of a tenant: the ScimToken named by
// --token-from, else the first Ready, unrevoked token carrying scope.
func tokenFor(ctx context.Context, c client.Client, t *scimv1alpha1.ScimTenant, from string, scope scimv1alpha1.TokenScope) (string, string, error) {
	if from != "" {
		tok := &scimv1alpha1.ScimToken{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: from}, tok); err != nil {
			return "", "", notFoundHint(err, "ScimToken", t.Namespace, from)
		}
		if tok.Spec.TenantRef.Name != t.Name {
			return "", "", fmt.Errorf("ScimToken %s belongs to tenant %s, not %s", from, tok.Spec.TenantRef.Name, t.Name)
		}
		v, err := readToken(ctx, c, tok)
		return v, from, err
	}
	tokens, err := tenantTokens(ctx, c, t.Namespace, t.Name)
	if err != nil {
		return "", "", err
	}
	for i := range tokens {
		tok := &tokens[i]
		ready := meta.IsStatusConditionTrue(tok.Status.Conditions, scimv1alpha1.ConditionReady)
		if ready && !tok.Spec.Revoked && (len(tok.Spec.Scopes) == 0 || slices.Contains(tok.Spec.Scopes, scope)) {
			v, err := readToken(ctx, c, tok)
			return v, tok.Name, err
		}
	}
	return "", "", fmt.Errorf("tenant %s/%s has no Ready ScimToken with the %s scope to call it with: create one (config/samples/scim_v1alpha1_scimtoken.yaml) or name one with --token-from", t.Namespace, t.Name, scope)
}

// get sends an authenticated GET to the server.
func (ep *endpoint) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if ep.hostHeader != "" {
		req.Host = ep.hostHeader
	}
	req.Header.Set("Accept", "application/scim+json")
	if ep.token != "" {
		req.Header.Set("Authorization", "Bearer "+ep.token)
	}
	return ep.http.Do(req)
}

// scimURL is the base URL with a resource path and query.
func (ep *endpoint) scimURL(path string, q url.Values) *url.URL {
	u := *ep.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return &u
}
