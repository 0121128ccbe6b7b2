package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// tenantStatusServer serves GET /v1/status as documented in
// docs/scimserver.md, to the operator's token only.
type tenantStatusServer struct {
	mu     sync.Mutex
	token  string
	report string
}

func (s *tenantStatusServer) set(token, report string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" {
		s.token = token
	}
	s.report = report
}

func (s *tenantStatusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path != "/v1/status":
		http.NotFound(w, r)
	case s.token == "" || r.Header.Get("Authorization") != "Bearer "+s.token:
		http.Error(w, `{"detail":"unauthorized"}`, http.StatusUnauthorized)
	default:
		_, _ = w.Write([]byte(s.report))
	}
}

func statusReport(lastRequest time.Time, tokens string, errors int) string {
	ts := lastRequest.UTC().Format(time.RFC3339Nano)
	return fmt.Sprintf(`{"unknownAttributes":"Ignore",
 "droppedAttributes":[{"name":"shoeSize","resourceType":"User","count":3,"lastSeen":%[1]q}],"rejectedAttributes":[],
 "users":{"active":3,"inactive":1},"groups":2,"inactiveCountedAt":%[1]q,"startedAt":"2026-11-01T00:00:00Z",
 "tokens":[%[2]s],"lastRequest":%[1]q,"lastWrite":%[1]q,
 "lastClientError":{"status":400,"scimType":"invalidValue","detail":"attribute \"…\" is not valid","time":%[1]q},
 "clientErrors":{"windowSeconds":600,"requests":40,"errors":%[3]d}}`, ts, tokens, errors)
}

func tokenUse(name string, rev int64, at time.Time) string {
	return fmt.Sprintf(`{"name":%q,"revision":%d,"fingerprint":"abc","lastRequest":%q}`, name, rev, at.UTC().Format(time.RFC3339Nano))
}

func countEvents(t *testing.T, ns, name, reason string) int {
	t.Helper()
	var events corev1.EventList
	if err := k8s.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// The poller reads every tenant's GET /v1/status (this tenant has no
// webhook) into ScimTenant and ScimToken status, with conditions and
// events, on the shared fake clock.
func TestTenantStatusFromServer(t *testing.T) {
	ns := namespace(t)
	fake := &tenantStatusServer{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer startWebhookManager(t, ns, srv.URL)()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, newToken(ns, "entra", "acme"))
	tokenStatus(t, ns, "entra", 1)

	// The server does not accept the operator yet: Syncing is Unknown.
	tenantCondition(t, ns, "acme", scimv1alpha1.ConditionSyncing, "Unknown", scimv1alpha1.ReasonAwaitingReport)

	var operatorToken string
	eventually(t, 30*time.Second, func() error {
		s := &corev1.Secret{}
		if err := get(t, s, ns, "acme-scim-operator"); err != nil {
			return err
		}
		operatorToken = string(s.Data["token"])
		return nil
	})
	used := clk.Now()
	fake.set(operatorToken, statusReport(used, tokenUse("entra", 1, used), 12))

	c := tenantCondition(t, ns, "acme", scimv1alpha1.ConditionSyncing, "True", scimv1alpha1.ReasonRecentRequests)
	if !strings.Contains(c.Message, used.UTC().Format(time.RFC3339)) {
		t.Fatalf("Syncing message %q", c.Message)
	}
	c = tenantCondition(t, ns, "acme", scimv1alpha1.ConditionAttributesDropped, "True", scimv1alpha1.ReasonUnknownAttributes)
	if !strings.Contains(c.Message, `User "shoeSize"`) || !strings.Contains(c.Message, "spec.schema.extensions") {
		t.Fatalf("AttributesDropped message %q", c.Message)
	}
	tenant := &scimv1alpha1.ScimTenant{}
	if err := get(t, tenant, ns, "acme"); err != nil {
		t.Fatal(err)
	}
	st := tenant.Status
	if st.Users == nil || st.Users.Total != 4 || st.Users.Active != 3 || st.Users.Inactive != 1 || st.Groups == nil || *st.Groups != 2 ||
		st.LastRequestTime == nil || !st.LastRequestTime.Time.Equal(used.Truncate(time.Second)) || st.LastWriteTime == nil ||
		st.LastClientError == nil || st.LastClientError.Status != 400 || st.LastClientError.ScimType != "invalidValue" {
		t.Fatalf("tenant status: %s", toJSON(st))
	}
	tok := &scimv1alpha1.ScimToken{}
	eventually(t, 30*time.Second, func() error {
		if err := get(t, tok, ns, "entra"); err != nil {
			return err
		}
		if tok.Status.LastUsedTime == nil || tok.Status.PreviousLastUsedTime != nil {
			return fmt.Errorf("token status %s", toJSON(tok.Status))
		}
		return nil
	})
	assertEvent(t, ns, "acme", EventClientErrors)
	assertEvent(t, ns, "acme", EventAttributesDropped)
	if got := gaugeValue(t, tenantUsers.WithLabelValues(ns, "acme", "inactive")); got != 1 {
		t.Errorf("scim_operator_tenant_users{state=inactive} = %v", got)
	}
	if got := gaugeValue(t, tenantLastRequest.WithLabelValues(ns, "acme")); got != float64(used.Unix()) {
		t.Errorf("scim_operator_tenant_last_request_timestamp_seconds = %v, want %d", got, used.Unix())
	}
	if got := gaugeValue(t, tenantSyncing.WithLabelValues(ns, "acme")); got != 1 {
		t.Errorf("scim_operator_tenant_syncing = %v", got)
	}

	// The same report, polled every 100 ms, costs no write and no second
	// ClientErrors event within the rate limit.
	rv := tenant.ResourceVersion
	consistently(t, time.Second, func() error {
		cur := &scimv1alpha1.ScimTenant{}
		if err := get(t, cur, ns, "acme"); err != nil {
			return err
		}
		if cur.ResourceVersion != rv {
			return fmt.Errorf("an unchanged report rewrote the status: %s", toJSON(cur.Status))
		}
		return nil
	})
	if n := countEvents(t, ns, "acme", EventClientErrors); n != 1 {
		t.Fatalf("%d ClientErrors events, want 1", n)
	}

	// A restarted server knows nothing yet: the times stay.
	fake.set("", `{"unknownAttributes":"Ignore","droppedAttributes":[],"rejectedAttributes":[],"users":{"active":3,"inactive":1},"groups":2,
 "startedAt":"2026-11-01T13:00:00Z","tokens":[],"clientErrors":{"windowSeconds":600,"requests":0,"errors":0}}`)
	tenantCondition(t, ns, "acme", scimv1alpha1.ConditionAttributesDropped, "False", scimv1alpha1.ReasonNoneDropped)
	if err := get(t, tenant, ns, "acme"); err != nil {
		t.Fatal(err)
	}
	if tenant.Status.LastRequestTime == nil || !tenant.Status.LastRequestTime.Time.Equal(used.Truncate(time.Second)) {
		t.Fatalf("a restarted server turned lastRequestTime back: %s", toJSON(tenant.Status))
	}

	// No request for longer than the threshold (80m by default).
	clk.Step(DefaultSyncingThreshold + time.Minute)
	c = tenantCondition(t, ns, "acme", scimv1alpha1.ConditionSyncing, "False", scimv1alpha1.ReasonNoRecentRequests)
	if !strings.Contains(c.Message, "kubectl scim activity acme") || !strings.Contains(c.Message, "threshold 1h20m0s") {
		t.Fatalf("Syncing message %q", c.Message)
	}

	// Rotation: the report shows both revisions; once revision 2 is used,
	// the token says so and an event tells the user.
	patchToken(t, ns, "entra", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"status-test"}}}`)
	tokenStatus(t, ns, "entra", 2)
	newUse := clk.Now()
	fake.set("", statusReport(newUse, tokenUse("entra", 1, used)+","+tokenUse("entra", 2, newUse), 0))
	eventually(t, 30*time.Second, func() error {
		if err := get(t, tok, ns, "entra"); err != nil {
			return err
		}
		s := tok.Status
		if s.LastUsedTime == nil || !s.LastUsedTime.Time.Equal(newUse.Truncate(time.Second)) ||
			s.PreviousLastUsedTime == nil || !s.PreviousLastUsedTime.Time.Equal(used.Truncate(time.Second)) {
			return fmt.Errorf("token status %s", toJSON(s))
		}
		return nil
	})
	assertEvent(t, ns, "entra", EventSwitchedToNewToken)
	tenantCondition(t, ns, "acme", scimv1alpha1.ConditionSyncing, "True", scimv1alpha1.ReasonRecentRequests)
	if c := meta.FindStatusCondition(tenant.Status.Conditions, scimv1alpha1.ConditionReady); c == nil {
		t.Fatalf("the tenant controller's conditions are gone: %s", toJSON(tenant.Status.Conditions))
	}
}

// The documented way to end a previous token's grace early (a status patch
// of previousValidUntil to now) drops the previous hash from the tenant's
// token file at once.
func TestEndGraceEarly(t *testing.T) {
	ns := namespace(t)
	defer startManager(t, ns)()
	mustCreate(t, newTenant(ns, "acme"))
	mustCreate(t, newToken(ns, "entra", "acme"))
	tokenStatus(t, ns, "entra", 1)
	patchToken(t, ns, "entra", `{"metadata":{"annotations":{"scim.operator.dev/rotate":"end-grace"}}}`)
	st := tokenStatus(t, ns, "entra", 2)
	acceptedHashes(t, ns, "acme", st.Status.PreviousHash, st.Status.Hash)

	tok := &scimv1alpha1.ScimToken{ObjectMeta: st.ObjectMeta}
	patch := fmt.Sprintf(`{"status":{"previousValidUntil":%q}}`, clk.Now().UTC().Format(time.RFC3339))
	if err := k8s.Status().Patch(context.Background(), tok, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
	acceptedHashes(t, ns, "acme", st.Status.Hash)
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
