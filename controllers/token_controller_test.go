package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// tokenStatus reads a ScimToken once its status is at least revision rev.
func tokenStatus(t *testing.T, ns, name string, rev int64) *scimv1alpha1.ScimToken {
	t.Helper()
	tok := &scimv1alpha1.ScimToken{}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, tok, ns, name); err != nil {
			return err
		}
		if tok.Status.Revision != rev {
			return fmt.Errorf("revision %d, want %d", tok.Status.Revision, rev)
		}
		return nil
	})
	return tok
}

// secretToken reads the plaintext token of a ScimToken's Secret.
func secretToken(t *testing.T, ns, name string) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := get(t, s, ns, name); err != nil {
		t.Fatal(err)
	}
	return string(s.Data[scimv1alpha1.SecretKeyToken])
}

// acceptedHashes waits until the tenant's token file holds exactly want.
func acceptedHashes(t *testing.T, ns, tenant string, want ...string) {
	t.Helper()
	slices.Sort(want)
	eventually(t, 30*time.Second, func() error {
		f, err := tokenFileOf(t, ns, tenant)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range f.Tokens {
			got = append(got, e.SHA256)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("token file holds %v, want %v", got, want)
		}
		return nil
	})
}

// patchToken changes a ScimToken with a merge patch.
func patchToken(t *testing.T, ns, name, patch string) {
	t.Helper()
	tok := &scimv1alpha1.ScimToken{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := k8s.Patch(context.Background(), tok, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// poke triggers a reconcile for an unrelated reason, which must never rotate.
func poke(t *testing.T, ns, name string) {
	t.Helper()
	patchToken(t, ns, name, fmt.Sprintf(`{"metadata":{"annotations":{"test/poke":"%d"}}}`, time.Now().UnixNano()))
}

func TestTokenIssueAndRotateByAnnotation(t *testing.T) {
	ns := namespace(t)
	stop := startManager(t, ns)
	mustCreate(t, newTenant(ns, "acme"))
	tok := newToken(ns, "entra", "acme")
	tok.Spec.SecretName = "entra-secret"
	mustCreate(t, tok)

	// Issue.
	st := tokenStatus(t, ns, "entra", 1)
	first := secretToken(t, ns, "entra-secret")
	if !strings.HasPrefix(first, auth.TokenPrefix) || len(first) < len(auth.TokenPrefix)+43 {
		t.Fatalf("token %q: want the scim_ prefix and 256 bits", first[:8])
	}
	if st.Status.Hash != auth.Hash(first) || st.Status.Fingerprint != auth.Fingerprint(first) || st.Status.IssuedAt == nil || st.Status.SecretName != "entra-secret" {
		t.Fatalf("status does not describe the Secret's token: %s", toJSON(st.Status))
	}
	if err := wantCondition(st.Status.Conditions, "Ready", "True", scimv1alpha1.ReasonIssued); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := get(t, secret, ns, "entra-secret"); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(secret, st) {
		t.Errorf("token Secret not controlled by its ScimToken: %v", secret.OwnerReferences)
	}
	if got := string(secret.Data[scimv1alpha1.SecretKeyTenantURL]); got != "http://acme-scim."+ns+".svc/"+ns+"/acme/scim/v2?aadOptscim062020" {
		t.Errorf("tenantURL in Secret = %q", got)
	}
	acceptedHashes(t, ns, "acme", auth.Hash(first))

	// Rotate by annotation: exactly once per value.
	patchToken(t, ns, "entra", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"2026-11-01"}}}`)
	st = tokenStatus(t, ns, "entra", 2)
	second := secretToken(t, ns, "entra-secret")
	if second == first || st.Status.Hash != auth.Hash(second) {
		t.Fatal("the Secret was not rotated")
	}
	if st.Status.PreviousHash != auth.Hash(first) || st.Status.PreviousFingerprint != auth.Fingerprint(first) ||
		!st.Status.PreviousValidUntil.Time.Equal(st.Status.IssuedAt.Add(24*time.Hour)) || st.Status.LastRotateRequest != "2026-11-01" {
		t.Fatalf("timeline after rotation: %s", toJSON(st.Status))
	}
	acceptedHashes(t, ns, "acme", auth.Hash(first), auth.Hash(second))

	// Reconciles for other reasons, and the same value applied again, keep it.
	reconcileNow(t, ns, "entra")
	patchToken(t, ns, "entra", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"2026-11-01"}}}`)
	reconcileNow(t, ns, "entra")
	// The manager restarts and reconciles everything: the annotation value
	// was acted upon already, and status remembers it.
	stop()
	stop = startManager(t, ns)
	defer stop()
	unchanged := func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "entra"); err != nil {
			return err
		}
		if cur.Status.Revision != 2 || secretToken(t, ns, "entra-secret") != second {
			return fmt.Errorf("a reconcile without a new annotation value rotated the token (revision %d)", cur.Status.Revision)
		}
		return nil
	}
	consistently(t, 2*time.Second, unchanged)

	// A new value rotates again; the grace window then holds the second token only.
	patchToken(t, ns, "entra", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"again"}}}`)
	tokenStatus(t, ns, "entra", 3)
	third := secretToken(t, ns, "entra-secret")
	acceptedHashes(t, ns, "acme", auth.Hash(second), auth.Hash(third))

	assertNoPlaintext(t, ns)
}

func TestTokenRotationByInterval(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))
	tok := newToken(ns, "timed", "acme")
	tok.Spec.Rotation = &scimv1alpha1.RotationSpec{
		Interval:    &metav1.Duration{Duration: time.Hour},
		GracePeriod: &metav1.Duration{Duration: 10 * time.Minute},
	}
	mustCreate(t, tok)
	st := tokenStatus(t, ns, "timed", 1)
	first := secretToken(t, ns, "timed")
	if !st.Status.NextRotationAt.Time.Equal(st.Status.IssuedAt.Add(time.Hour)) {
		t.Fatalf("nextRotationAt %v, issuedAt %v", st.Status.NextRotationAt, st.Status.IssuedAt)
	}

	// Before the deadline, a reconcile keeps the token.
	clk.Step(59 * time.Minute)
	reconcileNow(t, ns, "timed")
	tokenStatus(t, ns, "timed", 1)

	// After it, the token rotates and the previous one enters its grace window.
	clk.Step(2 * time.Minute)
	poke(t, ns, "timed")
	st = tokenStatus(t, ns, "timed", 2)
	second := secretToken(t, ns, "timed")
	acceptedHashes(t, ns, "acme", auth.Hash(first), auth.Hash(second))
	if !st.Status.PreviousValidUntil.Time.Equal(clk.Now().Add(10*time.Minute).Truncate(time.Second)) &&
		!st.Status.PreviousValidUntil.Time.Equal(clk.Now().Add(10*time.Minute)) {
		t.Errorf("previousValidUntil %v, want now+10m", st.Status.PreviousValidUntil)
	}

	// The grace window ends: the previous token leaves status and the token file.
	clk.Step(11 * time.Minute)
	poke(t, ns, "timed")
	acceptedHashes(t, ns, "acme", auth.Hash(second))
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "timed"); err != nil {
			return err
		}
		if cur.Status.PreviousHash != "" || cur.Status.PreviousValidUntil != nil {
			return fmt.Errorf("previous token still recorded: %s", toJSON(cur.Status))
		}
		return nil
	})
	assertEvent(t, ns, "timed", "PreviousTokenExpired")
	assertEvent(t, ns, "timed", "Rotated")
}

// reconcileNow runs the token reconciler once, synchronously, against the
// real API server: a deterministic "reconcile for another reason".
func reconcileNow(t *testing.T, ns, name string) {
	t.Helper()
	r := &TokenReconciler{Client: k8s, Reader: k8s, Scheme: env.Scheme, Recorder: record.NewFakeRecorder(100), Clock: clk, NewToken: recordingTokenGenerator}
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}); err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
}

// consistently fails if check fails at any point during d.
func consistently(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := check(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenRevokeExpireDelete(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))
	keep := newToken(ns, "keep", "acme")
	mustCreate(t, keep)
	doomed := newToken(ns, "doomed", "acme")
	mustCreate(t, doomed)
	short := newToken(ns, "short", "acme")
	short.Spec.ExpiresAfter = &metav1.Duration{Duration: 2 * time.Hour}
	mustCreate(t, short)
	tokenStatus(t, ns, "keep", 1)
	tokenStatus(t, ns, "doomed", 1)
	st := tokenStatus(t, ns, "short", 1)
	if !st.Status.ExpiresAt.Time.Equal(st.Status.IssuedAt.Add(2 * time.Hour)) {
		t.Fatalf("expiresAt %v", st.Status.ExpiresAt)
	}
	k, d, s := secretToken(t, ns, "keep"), secretToken(t, ns, "doomed"), secretToken(t, ns, "short")
	acceptedHashes(t, ns, "acme", auth.Hash(k), auth.Hash(d), auth.Hash(s))
	// The expiring token's entry carries its notAfter (the server refuses
	// it from then on by its own clock); the others carry none.
	f, err := tokenFileOf(t, ns, "acme")
	if err != nil {
		t.Fatal(err)
	}
	notAfter := map[string]*time.Time{}
	for _, e := range f.Tokens {
		if _, dup := notAfter[e.Name]; dup {
			t.Fatalf("token file has two entries for %s: %s", e.Name, toJSON(f))
		}
		notAfter[e.Name] = e.NotAfter
	}
	if na, ok := notAfter["short"]; !ok || na == nil || !na.Equal(st.Status.ExpiresAt.Time.Truncate(time.Second)) {
		t.Errorf("expiring token's entry (present: %v) has notAfter %v, want %v", ok, na, st.Status.ExpiresAt)
	}
	for _, name := range []string{"keep", "doomed"} {
		if na, ok := notAfter[name]; !ok || na != nil {
			t.Errorf("token %s: entry present %v, notAfter %v; want an entry without notAfter", name, ok, na)
		}
	}

	// Revoke: refused at once, Secret emptied.
	patchToken(t, ns, "doomed", `{"spec":{"revoked":true}}`)
	acceptedHashes(t, ns, "acme", auth.Hash(k), auth.Hash(s))
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "doomed"); err != nil {
			return err
		}
		return wantCondition(cur.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonRevoked)
	})
	if secretToken(t, ns, "doomed") != "" {
		t.Error("revoked token still in its Secret")
	}
	assertEvent(t, ns, "doomed", "Revoked")

	// Un-revoke: a fresh token, never the revoked one.
	patchToken(t, ns, "doomed", `{"spec":{"revoked":false}}`)
	tokenStatus(t, ns, "doomed", 2)
	d2 := secretToken(t, ns, "doomed")
	if d2 == d {
		t.Fatal("un-revoking revived the revoked token")
	}
	acceptedHashes(t, ns, "acme", auth.Hash(k), auth.Hash(d2), auth.Hash(s))

	// Expire.
	clk.Step(2*time.Hour + time.Second)
	poke(t, ns, "short")
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "short"); err != nil {
			return err
		}
		return wantCondition(cur.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonExpired)
	})
	acceptedHashes(t, ns, "acme", auth.Hash(k), auth.Hash(d2))

	// Delete.
	if err := k8s.Delete(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	acceptedHashes(t, ns, "acme", auth.Hash(d2))
	assertNoPlaintext(t, ns)
}

func TestTokenWaitsForTenant(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newToken(ns, "early", "later"))
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "early"); err != nil {
			return err
		}
		return wantCondition(cur.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonTenantNotFound)
	})
	mustCreate(t, newTenant(ns, "later"))
	tokenStatus(t, ns, "early", 1)
	acceptedHashes(t, ns, "later", auth.Hash(secretToken(t, ns, "early")))
}

func TestTokenSecretConflict(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
		Data:       map[string][]byte{"password": []byte("hunter2")},
	})
	tok := newToken(ns, "clash", "acme")
	tok.Spec.SecretName = "taken"
	mustCreate(t, tok)
	eventually(t, 30*time.Second, func() error {
		cur := &scimv1alpha1.ScimToken{}
		if err := get(t, cur, ns, "clash"); err != nil {
			return err
		}
		return wantCondition(cur.Status.Conditions, "Ready", "False", scimv1alpha1.ReasonSecretConflict)
	})
	s := &corev1.Secret{}
	if err := get(t, s, ns, "taken"); err != nil || string(s.Data["password"]) != "hunter2" || len(s.Data) != 1 {
		t.Fatalf("the user's Secret was touched: %v %v", err, s.Data)
	}
}

func assertEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		var events corev1.EventList
		if err := k8s.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == name && e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event on %s", reason, name)
	})
}

// assertNoPlaintext checks that no token the operator generated appears in
// any ScimToken, ScimTenant, event or non-token Secret of the namespace.
func assertNoPlaintext(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var tokens scimv1alpha1.ScimTokenList
	var tenants scimv1alpha1.ScimTenantList
	var events corev1.EventList
	var secrets corev1.SecretList
	var configMaps corev1.ConfigMapList
	for _, l := range []client.ObjectList{&tokens, &tenants, &events, &secrets, &configMaps} {
		if err := k8s.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	var where []string
	for _, s := range secrets.Items {
		if s.Labels[LabelToken] == "" { // the tenants' token files
			where = append(where, toJSON(s))
		}
	}
	where = append(where, toJSON(tokens), toJSON(tenants), toJSON(events), toJSON(configMaps))
	all := strings.Join(where, "\n")
	for _, tok := range issuedTokens() {
		if strings.Contains(all, tok) || strings.Contains(all, strings.TrimPrefix(tok, auth.TokenPrefix)) {
			t.Fatalf("plaintext token %s… found outside its Secret", tok[:10])
		}
	}
	if len(events.Items) == 0 {
		t.Fatal("no events recorded: the check would be vacuous")
	}
}

// TestTokenShortIntervalDefaultsGrace: `interval: 1h` without a gracePeriod
// passes admission (no 24h schema default any more) and the previous token's
// grace window is the interval, not 24h.
func TestTokenShortIntervalDefaultsGrace(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))
	tok := newToken(ns, "hourly", "acme")
	tok.Spec.Rotation = &scimv1alpha1.RotationSpec{Interval: &metav1.Duration{Duration: time.Hour}}
	mustCreate(t, tok)
	tokenStatus(t, ns, "hourly", 1)

	patchToken(t, ns, "hourly", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"now"}}}`)
	st := tokenStatus(t, ns, "hourly", 2)
	if st.Spec.Rotation == nil || st.Spec.Rotation.GracePeriod != nil {
		t.Fatalf("rotation %+v: want no stored gracePeriod", st.Spec.Rotation)
	}
	if st.Status.PreviousValidUntil == nil || st.Status.IssuedAt == nil {
		t.Fatalf("no grace window after a rotation: %s", toJSON(st.Status))
	}
	if got := st.Status.PreviousValidUntil.Sub(st.Status.IssuedAt.Time); got != time.Hour {
		t.Errorf("grace window %v, want the 1h interval", got)
	}
}
