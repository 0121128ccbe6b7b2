package scimctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// createActivityToken creates a ScimToken with the activity scope for the
// tenant and waits until its server accepts it for the activity log.
func createActivityToken(t *testing.T, ns, tenant string) *scimv1alpha1.ScimToken {
	t.Helper()
	ctx := context.Background()
	tok := &scimv1alpha1.ScimToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tenant + "-activity"},
		Spec: scimv1alpha1.ScimTokenSpec{TenantRef: scimv1alpha1.TenantReference{Name: tenant},
			Scopes: []scimv1alpha1.TokenScope{scimv1alpha1.ScopeActivity}},
	}
	if err := k8s.Create(ctx, tok); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(tok), tok); err != nil {
			return err
		}
		if tok.Status.Fingerprint == "" {
			return fmt.Errorf("token %s not issued yet", tok.Name)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+rt.ServerAddr(ns, tenant+"-scim")+ActivityPath, nil)
		req.Header.Set("Authorization", "Bearer "+secretToken(t, ns, tok.SecretName()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("activity log answers %d to the activity token", resp.StatusCode)
		}
		return nil
	})
	return tok
}

// entraRequest sends one SCIM request to the tenant's server as Entra does.
func entraRequest(t *testing.T, ns, tenant, token, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+rt.ServerAddr(ns, tenant+"-scim")+"/"+ns+"/"+tenant+"/scim/v2"+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestActivityNeedsActivityScope: without a ScimToken of the activity
// scope the plugin says how to create one; a named token without the scope
// is refused before any request.
func TestActivityNeedsActivityScope(t *testing.T) {
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	url := "http://" + rt.ServerAddr(ns, "acme-scim")
	r := kubectlScim(t, "activity", "acme", "-n", ns, "--url", url)
	if r.code != ExitError || !strings.Contains(r.errOut, "no Ready ScimToken with the activity scope") ||
		!strings.Contains(r.errOut, "  name: acme-activity\n  namespace: "+ns+"\nspec:\n  tenantRef:\n    name: acme\n  scopes: [activity]\n") {
		t.Fatalf("want the create-a-token error with its YAML:\n%s", r)
	}
	r = kubectlScim(t, "activity", "acme", "-n", ns, "--url", url, "--token-from", "acme-entra")
	if r.code != ExitError || !strings.Contains(r.errOut, "ScimToken "+ns+"/acme-entra lacks the activity scope") {
		t.Fatalf("want the lacks-scope error:\n%s", r)
	}
}

// TestActivityReadsAndFollows reads the real server's activity log through
// the local runtime, with the tenant's activity token picked automatically
// and named with --token-from, then follows it while Entra's token sends
// requests.
func TestActivityReadsAndFollows(t *testing.T) {
	ns := namespace(t)
	_, entra := tenantWithToken(t, ns, "acme")
	createActivityToken(t, ns, "acme")
	entraToken := secretToken(t, ns, entra.SecretName())
	url := "http://" + rt.ServerAddr(ns, "acme-scim")

	if code := entraRequest(t, ns, "acme", entraToken, http.MethodPost, "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`); code != http.StatusBadRequest {
		t.Fatalf("POST without userName: %d", code)
	}

	r := kubectlScim(t, "activity", "acme", "-n", ns, "--url", url)
	if r.code != ExitOK || !strings.HasPrefix(r.out, "TIME") {
		t.Fatalf("activity:\n%s", r)
	}
	var post string
	for _, l := range strings.Split(r.out, "\n") {
		if strings.Contains(l, "POST") {
			post = l
		}
	}
	if f := strings.Fields(post); len(f) < 8 || f[2] != "/"+ns+"/acme/scim/v2/Users" || f[3] != "400" || f[4] != "invalidValue" ||
		f[5] != "acme-entra" || f[6] != entra.Status.Fingerprint {
		t.Fatalf("the POST's line: %q\n%s", post, r)
	}

	r = kubectlScim(t, "activity", "acme", "-n", ns, "--url", url, "--token-from", "acme-activity", "-o", "json")
	var doc struct{ Entries []statusdoc.ActivityEntry }
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || r.code != ExitOK {
		t.Fatalf("-o json: %v\n%s", err, r)
	}
	found := false
	for _, e := range doc.Entries {
		found = found || (e.Method == "POST" && e.Status == 400 && e.Token == "acme-entra" && e.TokenRevision == 1)
	}
	if !found {
		t.Fatalf("-o json lacks the POST:\n%s", r.out)
	}

	// --follow prints what the server records while it runs, each request
	// once, until interrupted: the first page has the POST; the GETs come
	// while the plugin waits in the server's long poll.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runPlugin(ctx, out, "activity", "acme", "-n", ns, "--url", url, "--follow", "-o", "json")
	}()
	waitFor := func(what string, n int) {
		eventually(t, time.Minute, func() error {
			if got := strings.Count(out.String(), what); got < n {
				return fmt.Errorf("--follow printed %d of %d %s:\n%s", got, n, what, out.String())
			}
			return nil
		})
	}
	waitFor(`"method":"POST"`, 1)
	for i := range 3 {
		if code := entraRequest(t, ns, "acme", entraToken, http.MethodGet, fmt.Sprintf("/Users?count=%d", i+1), ""); code != http.StatusOK {
			t.Fatalf("GET /Users: %d", code)
		}
	}
	for i := range 3 {
		waitFor(fmt.Sprintf(`Users?count=%d"`, i+1), 1)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("--follow exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{`"method":"POST"`, `Users?count=1"`, `Users?count=2"`, `Users?count=3"`} {
		if n := strings.Count(out.String(), want); n != 1 {
			t.Errorf("--follow printed %s %d times, want once:\n%s", want, n, out.String())
		}
	}
}

// syncBuffer is a Buffer the plugin writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runPlugin runs the plugin with its standard output and error in out, for
// commands that keep running (--follow).
func runPlugin(ctx context.Context, out io.Writer, args ...string) int {
	return Main(ctx, append(args, "--kubeconfig="+kubeconfig), Options{
		Streams:      genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: out},
		Now:          testNow,
		PollInterval: 100 * time.Millisecond,
	})
}
