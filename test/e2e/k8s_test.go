package e2e

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/localruntime"
)

const ns = "default"

// eventually polls cond every 100ms until it returns "" or timeout passes,
// then fails with the last reason it gave.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apply creates the objects of testdata/<file>.
func apply(t testing.TB, file string) {
	t.Helper()
	if _, err := localruntime.CreateObjects(context.Background(), k8s, filepath.Join("testdata", file)); err != nil {
		t.Fatal(err)
	}
}

// tenant is one ScimTenant as Entra sees it: a host, a base path and a token.
type tenant struct {
	name   string
	host   string // the Ingress host, sent as the Host header
	base   string // the SCIM base path, e.g. /t/users/scim/v2
	secret string // the ScimToken's Secret
	uid    string
	retry  *entraRetry // nil: no retries, a connection error fails the test
}

// readyTenant waits until the tenant is Ready and its token is in its Secret.
func readyTenant(t testing.TB, name, secret string) *tenant {
	t.Helper()
	tn := &tenant{name: name, secret: secret}
	eventually(t, 2*time.Minute, "ScimTenant "+name+" Ready", func() string {
		st := &scimv1alpha1.ScimTenant{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, st); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(st.Status.Conditions, scimv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return "Ready condition: " + condString(c)
		}
		u, err := url.Parse(st.Status.TenantURL)
		if err != nil {
			return err.Error()
		}
		if _, ok := u.Query()["aadOptscim062020"]; !ok {
			t.Fatalf("tenant URL %q does not carry ?aadOptscim062020", st.Status.TenantURL)
		}
		tn.host, tn.base, tn.uid = u.Host, u.Path, string(st.UID)
		return ""
	})
	// Ready means the token file has the token; the server reads it from
	// the mounted Secret a moment later, as in a cluster.
	eventually(t, time.Minute, "token in Secret "+secret+" accepted", func() string {
		tok := tn.token(t)
		if tok == "" {
			return "no token yet"
		}
		if s := tn.statusWith(t, tok); s != http.StatusOK {
			return "Test Connection: " + http.StatusText(s)
		}
		return ""
	})
	return tn
}

func condString(c *metav1.Condition) string {
	if c == nil {
		return "missing"
	}
	return string(c.Status) + " " + c.Reason + ": " + c.Message
}

// token is the current plaintext token in the tenant's token Secret.
func (tn *tenant) token(t testing.TB) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tn.secret}, s); err != nil {
		return ""
	}
	return string(s.Data[scimv1alpha1.SecretKeyToken])
}

// getToken reads a ScimToken.
func getToken(t testing.TB, name string) *scimv1alpha1.ScimToken {
	t.Helper()
	tok := &scimv1alpha1.ScimToken{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// patchToken changes a ScimToken as kubectl annotate / kubectl patch would.
func patchToken(t testing.TB, name string, change func(*scimv1alpha1.ScimToken)) {
	t.Helper()
	tok := getToken(t, name)
	before := tok.DeepCopy()
	change(tok)
	if err := k8s.Patch(context.Background(), tok, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

// createToken creates a ScimToken of a tenant, its Secret named after it;
// change, if given, adjusts it first.
func createToken(t testing.TB, name, tenantName string, change ...func(*scimv1alpha1.ScimToken)) {
	t.Helper()
	tok := &scimv1alpha1.ScimToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       scimv1alpha1.ScimTokenSpec{TenantRef: scimv1alpha1.TenantReference{Name: tenantName}},
	}
	for _, c := range change {
		c(tok)
	}
	if err := k8s.Create(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

// deleteToken deletes a ScimToken.
func deleteToken(t testing.TB, name string) {
	t.Helper()
	tok := &scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8s.Delete(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}
