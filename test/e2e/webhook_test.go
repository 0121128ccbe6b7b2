package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// receiver is an application's webhook endpoint: it keeps every request.
type receiver struct {
	mu       sync.Mutex
	requests []delivered
}

type delivered struct {
	header http.Header
	body   []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests = append(rc.requests, delivered{r.Header.Clone(), body})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.requests)
}

// find returns the first request whose body mentions s.
func (rc *receiver) find(s string) (delivered, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, d := range rc.requests {
		if strings.Contains(string(d.body), s) {
			return d, true
		}
	}
	return delivered{}, false
}

// TestWebhookDeliveryThroughTheOperator: a ScimWebhook declared as YAML gets
// a signing secret, the tenant server delivers signed events to the
// receiver, the operator reads the delivery status back into the
// ScimWebhook, and a rotation keeps every delivery verifiable with either
// secret during the grace window.
func TestWebhookDeliveryThroughTheOperator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rc := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	apply(t, "webhooks.yaml")
	hook := &scimv1alpha1.ScimWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2e-hooks-mirror"},
		Spec: scimv1alpha1.ScimWebhookSpec{
			TenantRef: scimv1alpha1.TenantReference{Name: "e2e-hooks"},
			URL:       fmt.Sprintf("http://localhost:%d/hook", port),
			Rotation:  &scimv1alpha1.RotationSpec{GracePeriod: &metav1.Duration{Duration: time.Hour}},
		},
	}
	if err := k8s.Create(ctx, hook); err != nil {
		t.Fatal(err)
	}
	tn := readyTenant(t, "e2e-hooks", "e2e-hooks-entra")
	tok := tn.token(t)

	signing := func() string {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "e2e-hooks-mirror"}, s); err != nil {
			return ""
		}
		return string(s.Data[scimv1alpha1.SecretKeyWebhookSecret])
	}
	// waitDelivered waits for the event about userName and checks its
	// signatures with the published Standard Webhooks library.
	waitDelivered := func(userName string, secrets ...string) delivered {
		t.Helper()
		var d delivered
		eventually(t, time.Minute, "delivery of "+userName, func() string {
			var ok bool
			if d, ok = rc.find(userName); !ok {
				return fmt.Sprintf("%d requests, none about %s", rc.count(), userName)
			}
			return ""
		})
		for i, s := range secrets {
			wh, err := standardwebhooks.NewWebhook(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(d.body, d.header); err != nil {
				t.Errorf("delivery about %s does not verify with secret %d: %v", userName, i, err)
			}
		}
		return d
	}

	// Create a user: the receiver gets user.created, signed.
	eventually(t, 30*time.Second, "signing secret issued", func() string {
		if signing() == "" {
			return "no secret in Secret e2e-hooks-mirror"
		}
		return ""
	})
	first := signing()
	tn.expect(t, tok, http.MethodPost, "/Users", entraUser("first.hooks@contoso.com", "first", false), 201)
	d := waitDelivered("first.hooks@contoso.com", first)
	var ev map[string]any
	if err := json.Unmarshal(d.body, &ev); err != nil || ev["type"] != "user.created" {
		t.Fatalf("delivered body is not a user.created event: %v %s", err, d.body)
	}

	// The operator reads delivery status back from the server.
	eventually(t, time.Minute, "ScimWebhook status from the server", func() string {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(hook), cur); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, scimv1alpha1.ConditionReady)
		if c == nil || c.Reason != scimv1alpha1.ReasonDelivering || cur.Status.Lag != 0 || cur.Status.AckedSeq < 1 || cur.Status.LastDeliveredAt == nil {
			return fmt.Sprintf("Ready %s, acked %d, lag %d, lastDeliveredAt %v", condString(c), cur.Status.AckedSeq, cur.Status.Lag, cur.Status.LastDeliveredAt)
		}
		return ""
	})

	// Rotate: during the grace window each delivery verifies with both secrets.
	cur := &scimv1alpha1.ScimWebhook{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(hook), cur); err != nil {
		t.Fatal(err)
	}
	before := cur.DeepCopy()
	cur.Annotations = map[string]string{scimv1alpha1.RotateAnnotation: "e2e"}
	if err := k8s.Patch(ctx, cur, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "rotated secret", func() string {
		if signing() == first || signing() == "" {
			return "still the first secret"
		}
		return ""
	})
	second := signing()
	// The new file reaches the server through the mounted Secret: from then
	// on every delivery carries both signatures (one new user per attempt).
	newSigner, err := standardwebhooks.NewWebhook(second)
	if err != nil {
		t.Fatal(err)
	}
	attempt := 0
	eventually(t, time.Minute, "a delivery signed with the rotated secret", func() string {
		attempt++
		name := fmt.Sprintf("after-rotation-%d.hooks@contoso.com", attempt)
		tn.expect(t, tok, http.MethodPost, "/Users", entraUser(name, "r", false), 201)
		d := waitDelivered(name, first) // the previous secret verifies throughout
		if err := newSigner.Verify(d.body, d.header); err != nil {
			return "not yet signed with the new secret: " + err.Error()
		}
		if n := len(strings.Fields(d.header.Get("webhook-signature"))); n != 2 {
			t.Fatalf("%d signatures during the grace window, want 2", n)
		}
		return ""
	})
}
