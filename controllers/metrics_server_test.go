package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// The manager's metrics endpoint refuses scrapes without a bearer token
// (401) and with the token of a ServiceAccount not bound to metrics-reader
// (403), and serves one that is. The manager runs as a user holding only the
// installed metrics-auth-role, which its TokenReviews and
// SubjectAccessReviews need.
func TestMetricsEndpointAuthenticatesAndAuthorizes(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()

	// The manager's user: the installed metrics-auth-role only.
	cfg := operatorUser(t, "metrics-operator")
	bindClusterRole(t, "test-metrics-auth-"+ns, installedRules(t, "rbac", "common", "metrics_auth_role.yaml"),
		rbacv1.Subject{Kind: rbacv1.UserKind, Name: "metrics-operator"})

	// Scrapers: prometheus is bound to the installed metrics-reader role, stranger is not.
	bindClusterRole(t, "test-metrics-reader-"+ns, installedRules(t, "rbac", "common", "metrics_reader_role.yaml"),
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: ns})
	clientset, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	token := func(sa string) string {
		t.Helper()
		mustCreate(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})
		tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	prometheus, stranger := token("prometheus"), token("stranger")

	addr := freeLocalAddress(t)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                MetricsServerOptions(addr, true, ""),
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	// A self-signed certificate: the test checks authentication, not the certificate.
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(bearer string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := httpc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body), nil
	}
	eventually(t, 30*time.Second, func() error { _, _, err := scrape(""); return err })

	for _, tt := range []struct {
		name, bearer string
		want         int
	}{
		{"no token", "", http.StatusUnauthorized},
		// The TokenReview reports an error for a malformed token, which
		// controller-runtime's filter answers with 500: refused all the same.
		{"not a token", "scimop_not-a-kubernetes-token", http.StatusInternalServerError},
		{"ServiceAccount without metrics-reader", stranger, http.StatusForbidden},
		{"ServiceAccount with metrics-reader", prometheus, http.StatusOK},
	} {
		code, body, err := scrape(tt.bearer)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if code != tt.want {
			t.Errorf("%s: %d, want %d (%.200s)", tt.name, code, tt.want, body)
		}
		if (code == http.StatusOK) != strings.Contains(body, "rest_client_requests_total") {
			t.Errorf("%s: metrics leaked or missing: %.200s", tt.name, body)
		}
	}

	// Plain HTTP is refused: the endpoint speaks TLS only.
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/metrics")
	if err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP scrape served metrics")
		}
	}
}

func bindClusterRole(t *testing.T, name string, rules []rbacv1.PolicyRule, subject rbacv1.Subject) {
	t.Helper()
	mustCreate(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules})
	mustCreate(t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{subject},
	})
}

// freeLocalAddress is a loopback address with a port nothing listens on now.
func freeLocalAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr())
}
