package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

var (
	// issuedSecrets remembers every signing secret generated, to prove none leaks.
	issuedSecretsMu sync.Mutex
	issuedSecrets   []string
)

func recordingSecretGenerator() (string, error) {
	s, err := webhookconfig.NewSecret()
	if err == nil {
		issuedSecretsMu.Lock()
		issuedSecrets = append(issuedSecrets, s)
		issuedSecretsMu.Unlock()
	}
	return s, err
}

// startWebhookManager runs the manager with recorded signing secrets and,
// when url is not empty, every tenant Service resolved to url.
func startWebhookManager(t *testing.T, ns, url string) (stop func()) {
	return startManager(t, ns, func(o *Options) {
		o.Webhooks.NewSecret = recordingSecretGenerator
		o.Webhooks.PollInterval = 100 * time.Millisecond
		if url != "" {
			o.Webhooks.ServiceURL = func(context.Context, string, string, int32) (string, error) { return url, nil }
		}
	})
}

func newWebhook(ns, name, tenant string) *scimv1alpha1.ScimWebhook {
	return &scimv1alpha1.ScimWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: scimv1alpha1.ScimWebhookSpec{
			TenantRef: scimv1alpha1.TenantReference{Name: tenant},
			URL:       "https://crm.example.com/hooks/scim",
		},
	}
}

// webhookStatus reads a ScimWebhook once its status is at revision rev.
func webhookStatus(t *testing.T, ns, name string, rev int64) *scimv1alpha1.ScimWebhook {
	t.Helper()
	wh := &scimv1alpha1.ScimWebhook{}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, wh, ns, name); err != nil {
			return err
		}
		if wh.Status.Revision != rev {
			return fmt.Errorf("revision %d, want %d", wh.Status.Revision, rev)
		}
		return nil
	})
	return wh
}

func webhookCondition(t *testing.T, ns, name, typ, status, reason string) *scimv1alpha1.ScimWebhook {
	t.Helper()
	wh := &scimv1alpha1.ScimWebhook{}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, wh, ns, name); err != nil {
			return err
		}
		return wantCondition(wh.Status.Conditions, typ, status, reason)
	})
	return wh
}

func patchWebhook(t *testing.T, ns, name, patch string) {
	t.Helper()
	wh := &scimv1alpha1.ScimWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8s.Patch(context.Background(), wh, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func secretData(t *testing.T, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := get(t, s, ns, name); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

// webhookFileOf reads a tenant's webhook file as the server would.
func webhookFileOf(t testing.TB, ns, tenant string) (*webhookconfig.File, error) {
	t.Helper()
	s := &corev1.Secret{}
	if err := get(t, s, ns, tenant+"-scim-webhooks"); err != nil {
		return nil, err
	}
	return webhookconfig.Parse(s.Data[webhookconfig.FileName])
}

// signingSecrets waits until the tenant's webhook file signs webhook name
// with exactly want, in order (current first).
func signingSecrets(t *testing.T, ns, tenant, name string, want ...string) webhookconfig.Webhook {
	t.Helper()
	var got webhookconfig.Webhook
	eventually(t, 30*time.Second, func() error {
		f, err := webhookFileOf(t, ns, tenant)
		if err != nil {
			return err
		}
		for _, w := range f.Webhooks {
			if w.Name == name {
				got = w
				if !slices.Equal(w.Secrets, want) {
					return fmt.Errorf("webhook %s signs with %d secret(s) (fingerprints %v), want %v", name, len(w.Secrets), fingerprints(w.Secrets), fingerprints(want))
				}
				return nil
			}
		}
		return fmt.Errorf("webhook %s not in the file", name)
	})
	return got
}

func fingerprints(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, auth.Fingerprint(s))
	}
	return out
}

func TestWebhookSecretIssueRotateAndGrace(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newTenant(ns, "acme"))
	wh := newWebhook(ns, "crm", "acme")
	wh.Spec.Rotation = &scimv1alpha1.RotationSpec{GracePeriod: &metav1.Duration{Duration: 2 * time.Hour}}
	mustCreate(t, wh)

	// Issue: a Standard Webhooks secret in the webhook's Secret, its hash in status.
	st := webhookStatus(t, ns, "crm", 1)
	first := string(secretData(t, ns, "crm")[scimv1alpha1.SecretKeyWebhookSecret])
	if key, err := webhookconfig.DecodeSecret(first); err != nil || len(key) != 32 {
		t.Fatalf("signing secret is not whsec_ with 32 random bytes: %v", err)
	}
	if st.Status.Hash != auth.Hash(first) || st.Status.Fingerprint != auth.Fingerprint(first) || st.Status.SecretName != "crm" || st.Status.IssuedAt == nil {
		t.Fatalf("status does not describe the Secret's signing secret: %s", toJSON(st.Status))
	}
	secret := &corev1.Secret{}
	if err := get(t, secret, ns, "crm"); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(secret, st) || secret.Labels[LabelManagedBy] != ManagedByValue || secret.Labels[LabelTenant] != "acme" {
		t.Errorf("webhook Secret: owners %v labels %v", secret.OwnerReferences, secret.Labels)
	}
	assertEvent(t, ns, "crm", "Issued")
	w := signingSecrets(t, ns, "acme", "crm", first)
	if w.URL != wh.Spec.URL || w.Timeout.D() != 10*time.Second || w.MaxRetryDuration.D() != 72*time.Hour || w.MaxBatch != 1 || w.Paused || len(w.EventTypes) != 0 {
		w.Secrets = nil // never in test output
		t.Errorf("file entry %+v does not follow the defaulted spec", w)
	}

	// The server gets the file mounted and the operator a status-only token.
	eventually(t, 30*time.Second, func() error {
		dep := &appsv1.Deployment{}
		if err := get(t, dep, ns, "acme-scim"); err != nil {
			return err
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if !hasMount(c.VolumeMounts, "webhooks", "/etc/scim/webhooks") || !slices.Contains(c.Args, "--webhooks-file=/etc/scim/webhooks/webhooks.json") {
			return fmt.Errorf("no webhook file in the server: args %v", c.Args)
		}
		return nil
	})
	operator := string(secretData(t, ns, "acme-scim-operator")["token"])
	eventually(t, 30*time.Second, func() error {
		f, err := rawTokenFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		for _, e := range f.Tokens {
			if e.Name == "scim-operator" && e.SHA256 == auth.Hash(operator) && slices.Equal(e.Scopes, []string{"status"}) {
				return nil
			}
		}
		return fmt.Errorf("no status-scope scim-operator entry in %s", toJSON(f.Tokens))
	})

	// Rotate by annotation: both secrets sign during the grace window.
	patchWebhook(t, ns, "crm", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"r1"}}}`)
	st = webhookStatus(t, ns, "crm", 2)
	data := secretData(t, ns, "crm")
	second := string(data[scimv1alpha1.SecretKeyWebhookSecret])
	if second == first || string(data[scimv1alpha1.SecretKeyWebhookPrevious]) != first {
		t.Fatal("the Secret does not hold the new secret and, as previous, the old one")
	}
	if st.Status.Hash != auth.Hash(second) || st.Status.PreviousHash != auth.Hash(first) || st.Status.PreviousFingerprint != auth.Fingerprint(first) ||
		!st.Status.PreviousValidUntil.Time.Equal(st.Status.IssuedAt.Add(2*time.Hour)) || st.Status.LastRotateRequest != "r1" {
		t.Fatalf("timeline after rotation: %s", toJSON(st.Status))
	}
	signingSecrets(t, ns, "acme", "crm", second, first)
	assertEvent(t, ns, "crm", "Rotated")

	// The same value again, and reconciles for other reasons, keep it.
	patchWebhook(t, ns, "crm", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"r1","test/poke":"1"}}}`)
	consistently(t, time.Second, func() error {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := get(t, cur, ns, "crm"); err != nil {
			return err
		}
		if cur.Status.Revision != 2 {
			return fmt.Errorf("a reconcile without a new annotation value rotated the secret (revision %d)", cur.Status.Revision)
		}
		return nil
	})

	// The grace window ends: only the new secret signs.
	clk.Step(2*time.Hour + time.Second)
	patchWebhook(t, ns, "crm", `{"metadata":{"annotations":{"test/poke":"2"}}}`)
	signingSecrets(t, ns, "acme", "crm", second)
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := get(t, cur, ns, "crm"); err != nil {
			return err
		}
		if cur.Status.PreviousHash != "" || cur.Status.PreviousValidUntil != nil {
			return fmt.Errorf("previous secret still recorded: %s", toJSON(cur.Status))
		}
		if _, ok := secretData(t, ns, "crm")[scimv1alpha1.SecretKeyWebhookPrevious]; ok {
			return fmt.Errorf("previous secret still in the Secret")
		}
		return nil
	})
	assertEvent(t, ns, "crm", "PreviousSecretExpired")
	assertNoSigningSecretOutside(t, ns)
}

// A webhook Secret someone deleted is re-issued; the lost secret cannot sign.
func TestWebhookSecretLost(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, newWebhook(ns, "crm", "acme"))
	webhookStatus(t, ns, "crm", 1)
	if err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"}}); err != nil {
		t.Fatal(err)
	}
	st := webhookStatus(t, ns, "crm", 2)
	fresh := string(secretData(t, ns, "crm")[scimv1alpha1.SecretKeyWebhookSecret])
	if st.Status.Hash != auth.Hash(fresh) || st.Status.PreviousHash != "" {
		t.Fatalf("after a lost Secret: %s", toJSON(st.Status))
	}
	signingSecrets(t, ns, "acme", "crm", fresh)
}

func TestWebhookFileFollowsSpec(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, newTenant(ns, "other"))
	wh := newWebhook(ns, "audit", "acme")
	wh.Annotations = map[string]string{scimv1alpha1.ResumeAnnotation: "r1"}
	wh.Spec.URL = "http://audit.apps.svc:8080/events"
	wh.Spec.Paused = true
	wh.Spec.EventTypes = []scimv1alpha1.WebhookEventType{"user.deleted", "user.deactivated"}
	wh.Spec.MaxBatch = 50
	wh.Spec.Timeout = &metav1.Duration{Duration: 30 * time.Second}
	wh.Spec.MaxRetryDuration = &metav1.Duration{Duration: time.Hour}
	mustCreate(t, wh)
	mustCreate(t, newWebhook(ns, "elsewhere", "other"))

	st := webhookCondition(t, ns, "audit", "Ready", "False", scimv1alpha1.ReasonPaused)
	w := signingSecrets(t, ns, "acme", "audit", string(secretData(t, ns, "audit")[scimv1alpha1.SecretKeyWebhookSecret]))
	if w.URL != "http://audit.apps.svc:8080/events" || !w.Paused || !slices.Equal(w.EventTypes, []string{"user.deleted", "user.deactivated"}) ||
		w.MaxBatch != 50 || w.Timeout.D() != 30*time.Second || w.MaxRetryDuration.D() != time.Hour || w.Resume != "r1" {
		w.Secrets = nil // never in test output
		t.Errorf("file entry %+v does not follow the spec", w)
	}
	if f, err := webhookFileOf(t, ns, "acme"); err != nil {
		t.Error(err)
	} else if len(f.Webhooks) != 1 || f.AllowPrivateNetworks {
		t.Errorf("tenant acme's file: %d webhooks, allowPrivateNetworks %v (want only its own webhook, private networks refused)", len(f.Webhooks), f.AllowPrivateNetworks)
	}
	if !strings.Contains(conditionOf(st.Status.Conditions, "Ready").Message, "spec.paused") {
		t.Errorf("Paused message: %q", conditionOf(st.Status.Conditions, "Ready").Message)
	}

	// Unpause and resume: the file follows.
	patchWebhook(t, ns, "audit", `{"metadata":{"annotations":{"scim.operator.dev/resume":"r2"}},"spec":{"paused":false}}`)
	eventually(t, 30*time.Second, func() error {
		f, err := webhookFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		if len(f.Webhooks) != 1 {
			return fmt.Errorf("file with %d webhooks, want 1", len(f.Webhooks))
		}
		if w := f.Webhooks[0]; w.Paused || w.Resume != "r2" {
			return fmt.Errorf("file entry paused=%v resume=%q", w.Paused, w.Resume)
		}
		return nil
	})
	webhookCondition(t, ns, "audit", "Ready", "Unknown", scimv1alpha1.ReasonAwaitingServer)

	// The last webhook goes: an empty file, no operator token, no mount.
	if err := k8s.Delete(context.Background(), wh); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		f, err := webhookFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		if len(f.Webhooks) != 0 {
			return fmt.Errorf("the file still has %d webhooks", len(f.Webhooks))
		}
		dep := &appsv1.Deployment{}
		if err := get(t, dep, ns, "acme-scim"); err != nil {
			return err
		}
		if hasMount(dep.Spec.Template.Spec.Containers[0].VolumeMounts, "webhooks", "/etc/scim/webhooks") {
			return fmt.Errorf("webhook file still mounted")
		}
		tf, err := tokenFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		if len(tf.Tokens) != 0 {
			return fmt.Errorf("token file still holds %s", toJSON(tf.Tokens))
		}
		return nil
	})
	if _, err := webhookFileOf(t, ns, "other"); err != nil {
		t.Errorf("the other tenant lost its file: %v", err)
	}
}

func conditionOf(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func TestWebhookWaitsForTenant(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newWebhook(ns, "early", "later"))
	webhookCondition(t, ns, "early", "Ready", "False", scimv1alpha1.ReasonTenantNotFound)
	if err := get(t, &corev1.Secret{}, ns, "early"); !apierrors.IsNotFound(err) {
		t.Fatalf("a signing secret was issued for a missing tenant: %v", err)
	}
	mustCreate(t, newTenant(ns, "later"))
	webhookStatus(t, ns, "early", 1)
	signingSecrets(t, ns, "later", "early", string(secretData(t, ns, "early")[scimv1alpha1.SecretKeyWebhookSecret]))
}

func TestWebhookSecretConflict(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
		Data:       map[string][]byte{"secret": []byte("whsec_mine")},
	})
	wh := newWebhook(ns, "clash", "acme")
	wh.Spec.SecretName = "taken"
	mustCreate(t, wh)
	webhookCondition(t, ns, "clash", "Ready", "False", scimv1alpha1.ReasonSecretConflict)
	// The status poller (its server is unreachable here) must not replace the verdict.
	st := webhookCondition(t, ns, "clash", "StatusReported", "False", scimv1alpha1.ReasonServerUnreachable)
	if err := wantCondition(st.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonSecretConflict); err != nil {
		t.Fatal(err)
	}
	if msg := conditionOf(st.Status.Conditions, "Ready").Message; !strings.Contains(msg, "Secret taken exists and is not managed by the operator") {
		t.Errorf("conflict message %q does not say what to do", msg)
	}
	if d := secretData(t, ns, "taken"); string(d["secret"]) != "whsec_mine" || len(d) != 1 {
		t.Fatalf("the user's Secret was touched: %v", d)
	}
	eventually(t, 30*time.Second, func() error {
		f, err := webhookFileOf(t, ns, "acme")
		if err != nil {
			return err
		}
		if len(f.Webhooks) != 0 {
			return fmt.Errorf("a user's Secret signs deliveries for %s", f.Webhooks[0].Name)
		}
		return nil
	})
}

// statusServer plays a tenant server's GET /v1/webhooks: it answers the
// current report to the operator's token only, or fails with down.
type statusServer struct {
	mu     sync.Mutex
	token  string
	report string
	down   bool
}

func (s *statusServer) set(f func(*statusServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.down:
		http.Error(w, `{"detail":"starting"}`, http.StatusServiceUnavailable)
	case r.URL.Path != "/v1/webhooks":
		http.NotFound(w, r)
	case s.token == "" || r.Header.Get("Authorization") != "Bearer "+s.token:
		http.Error(w, `{"detail":"unauthorized"}`, http.StatusUnauthorized)
	default:
		_, _ = w.Write([]byte(s.report))
	}
}

func TestWebhookStatusFromServer(t *testing.T) {
	ns := namespace(t)
	fake := &statusServer{report: `{"head":7,"webhooks":[{"name":"crm","state":"delivering","acked":5,"lag":2,"lastDeliveredAt":"2026-11-01T11:59:00Z","lastAttemptAt":"2026-11-01T11:59:30Z"}]}`}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer startWebhookManager(t, ns, srv.URL)()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, newWebhook(ns, "crm", "acme"))
	webhookStatus(t, ns, "crm", 1)
	eventually(t, 30*time.Second, func() error {
		s := &corev1.Secret{}
		if err := get(t, s, ns, "acme-scim-operator"); err != nil {
			return err
		}
		fake.set(func(f *statusServer) { f.token = string(s.Data["token"]) })
		return nil
	})

	// Delivering: acknowledged cursor, lag and last delivery in status.
	st := webhookCondition(t, ns, "crm", "Ready", "True", scimv1alpha1.ReasonDelivering)
	if st.Status.AckedSeq != 5 || st.Status.Lag != 2 || st.Status.State != "delivering" || st.Status.StatusObservedAt == nil ||
		!st.Status.LastDeliveredAt.Time.Equal(time.Date(2026, 11, 1, 11, 59, 0, 0, time.UTC)) {
		t.Fatalf("status after a delivering report: %s", toJSON(st.Status))
	}
	if err := wantCondition(st.Status.Conditions, "StatusReported", "True", scimv1alpha1.ReasonReported); err != nil {
		t.Fatal(err)
	}
	// The same report, polled again and again (every 100 ms here), costs no write.
	rv := st.ResourceVersion
	consistently(t, time.Second, func() error {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := get(t, cur, ns, "crm"); err != nil {
			return err
		}
		if cur.ResourceVersion != rv {
			return fmt.Errorf("an unchanged report rewrote the status: %s", toJSON(cur.Status))
		}
		return nil
	})

	// Failing: the last status code and how to resume.
	fake.set(func(f *statusServer) {
		f.report = `{"head":9,"webhooks":[{"name":"crm","state":"failing","acked":5,"lag":4,"failingSince":"2026-11-01T09:00:00Z",` +
			`"lastError":{"status":503,"message":"upstream unavailable","at":"2026-11-01T12:00:00Z"}}]}`
	})
	st = webhookCondition(t, ns, "crm", "Ready", "False", scimv1alpha1.ReasonDeliveryFailing)
	msg := conditionOf(st.Status.Conditions, "Ready").Message
	for _, want := range []string{"HTTP 503", "upstream unavailable", "none dropped", "scim.operator.dev/resume"} {
		if !strings.Contains(msg, want) {
			t.Errorf("DeliveryFailing message %q lacks %q", msg, want)
		}
	}
	if e := st.Status.LastError; e == nil || e.Status != 503 || st.Status.Lag != 4 {
		t.Errorf("lastError %+v lag %d", e, st.Status.Lag)
	}

	// Expired: the resync steps.
	fake.set(func(f *statusServer) {
		f.report = `{"head":900,"webhooks":[{"name":"crm","state":"expired","acked":5,"lag":895}]}`
	})
	st = webhookCondition(t, ns, "crm", "Ready", "False", scimv1alpha1.ReasonCursorExpired)
	if msg := conditionOf(st.Status.Conditions, "Ready").Message; !strings.Contains(msg, "Resync") || !strings.Contains(msg, "/v1/events/head") {
		t.Errorf("CursorExpired message %q lacks the resync steps", msg)
	}

	// The server cannot be read: the last status stays, and status says so.
	fake.set(func(f *statusServer) { f.down = true })
	st = webhookCondition(t, ns, "crm", "StatusReported", "False", scimv1alpha1.ReasonServerUnreachable)
	if st.Status.AckedSeq != 5 || st.Status.Lag != 895 || st.Status.State != "expired" {
		t.Errorf("last reported status lost: %s", toJSON(st.Status))
	}
	if err := wantCondition(st.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonCursorExpired); err != nil {
		t.Error(err)
	}
	if msg := conditionOf(st.Status.Conditions, "StatusReported").Message; !strings.Contains(msg, "HTTP 503") || !strings.Contains(msg, "read at") {
		t.Errorf("StatusReported message %q", msg)
	}
	assertNoSigningSecretOutside(t, ns)
}

// assertNoSigningSecretOutside checks that no signing secret the operator
// generated appears anywhere but the webhooks' own Secrets and the tenants'
// webhook files: not in status, events, tenants, ConfigMaps or other Secrets.
func assertNoSigningSecretOutside(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var hooks scimv1alpha1.ScimWebhookList
	var tenants scimv1alpha1.ScimTenantList
	var events corev1.EventList
	var secrets corev1.SecretList
	var configMaps corev1.ConfigMapList
	for _, l := range []client.ObjectList{&hooks, &tenants, &events, &secrets, &configMaps} {
		if err := k8s.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	where := []string{toJSON(hooks), toJSON(tenants), toJSON(events), toJSON(configMaps)}
	for _, s := range secrets.Items {
		if s.Labels[LabelComponent] != "webhook" && !strings.HasSuffix(s.Name, "-scim-webhooks") {
			where = append(where, toJSON(s))
		}
	}
	all := strings.Join(where, "\n")
	issuedSecretsMu.Lock()
	defer issuedSecretsMu.Unlock()
	for _, s := range issuedSecrets {
		key := strings.TrimPrefix(s, webhookconfig.SecretPrefix)
		b64, _ := json.Marshal([]byte(s)) // how a Secret's data would carry it
		if strings.Contains(all, key) || strings.Contains(all, strings.Trim(string(b64), `"`)) {
			t.Fatalf("signing secret %s found outside its Secret and the webhook file", auth.Fingerprint(s))
		}
	}
	if len(events.Items) == 0 || len(issuedSecrets) == 0 {
		t.Fatal("no events or no secrets: the check would be vacuous")
	}
}

// A URL that passes admission but not Go's URL parser (a space in the host)
// is reported on the webhook and kept out of the file the server reads.
func TestWebhookUnparsableURL(t *testing.T) {
	ns := namespace(t)
	defer startWebhookManager(t, ns, "")()
	mustCreate(t, newTenant(ns, "acme"))
	good := newWebhook(ns, "good", "acme")
	mustCreate(t, good)
	bad := newWebhook(ns, "bad", "acme")
	bad.Spec.URL = "https://exa mple.com/hook"
	mustCreate(t, bad)
	st := webhookCondition(t, ns, "bad", "Ready", "False", scimv1alpha1.ReasonInvalidSpec)
	if msg := conditionOf(st.Status.Conditions, "Ready").Message; !strings.Contains(msg, "spec.url") {
		t.Errorf("InvalidSpec message %q does not name the field", msg)
	}
	webhookStatus(t, ns, "good", 1)
	signingSecrets(t, ns, "acme", "good", string(secretData(t, ns, "good")[scimv1alpha1.SecretKeyWebhookSecret]))
	f, err := webhookFileOf(t, ns, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Webhooks) != 1 {
		t.Fatalf("file has %d webhooks, want only the parsable one", len(f.Webhooks))
	}
}
