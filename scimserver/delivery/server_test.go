package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/server"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// tenant is a real SCIM server over a real SQLite store (and its change
// log), with delivery wired as cmd/scimserver wires it.
type tenant struct {
	t    *testing.T
	st   *store.SQLite
	srv  *server.Server
	http *httptest.Server
	m    *Manager
}

const (
	entraToken  = "scim_entra-read-write-token-0123456789"
	statusToken = "scim_operator-status-token-0123456789"
)

func newTenant(t *testing.T) *tenant {
	t.Helper()
	st, srv := newTestServer(t, time.Now, &auth.TokenFile{Tokens: []auth.TokenEntry{
		{Name: "entra", SHA256: auth.Hash(entraToken), Scopes: []string{auth.ScopeRead, auth.ScopeWrite}},
		{Name: "scim-operator", SHA256: auth.Hash(statusToken), Scopes: []string{auth.ScopeStatus}},
	}})
	m, err := New(Options{Events: srv.Events(), State: st, Owner: "replica-0", Registry: srv.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	srv.ServeWebhookStatus(m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &tenant{t: t, st: st, srv: srv, http: hs, m: m}
}

func (tn *tenant) do(method, path, token string, body any) (*http.Response, []byte) {
	tn.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, tn.http.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

func (tn *tenant) createUser(i int) string {
	tn.t.Helper()
	resp, body := tn.do(http.MethodPost, tn.srv.BasePath()+"/Users", entraToken, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": fmt.Sprintf("user%d@example.com", i), "active": true,
	})
	if resp.StatusCode != http.StatusCreated {
		tn.t.Fatalf("POST /Users: %d %s", resp.StatusCode, body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	return u.ID
}

func (tn *tenant) set(ws ...webhookconfig.Webhook) {
	f := &webhookconfig.File{Webhooks: ws, AllowPrivateNetworks: true}
	f.Default()
	if err := f.Validate(); err != nil {
		tn.t.Fatal(err)
	}
	tn.m.Update(f)
}

// TestDeliversTheSQLiteChangeLog: SCIM writes through the real server reach
// the receiver as the change log renders them, in order, and the status
// endpoint reports the webhook caught up.
func TestDeliversTheSQLiteChangeLog(t *testing.T) {
	tn := newTenant(t)
	rc := newReceiver(t)
	tn.set(hook("crm", rc.srv.URL))
	var ids []string
	for i := range 5 {
		ids = append(ids, tn.createUser(i))
	}
	if resp, body := tn.do(http.MethodDelete, tn.srv.BasePath()+"/Users/"+ids[0], entraToken, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	eventually(t, "6 events", func() bool { return len(rc.seqs()) == 6 }, nil)
	var types, resIDs []string
	for _, r := range rc.requests() {
		types = append(types, r.events[0].Type)
		resIDs = append(resIDs, r.events[0].ResourceID)
	}
	wantTypes := []string{eventlog.UserCreated, eventlog.UserCreated, eventlog.UserCreated, eventlog.UserCreated, eventlog.UserCreated, eventlog.UserDeleted}
	if !slices.Equal(types, wantTypes) || !slices.Equal(resIDs, append(slices.Clone(ids), ids[0])) {
		t.Fatalf("delivered %v %v", types, resIDs)
	}
	if got := rc.seqs(); !slices.IsSorted(got) {
		t.Fatalf("out of order: %v", got)
	}
	var rep Report
	eventually(t, "status caught up", func() bool {
		resp, body := tn.do(http.MethodGet, server.WebhooksPath, statusToken, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/webhooks: %d %s", resp.StatusCode, body)
		}
		rep = Report{}
		_ = json.Unmarshal(body, &rep)
		return len(rep.Webhooks) == 1 && rep.Webhooks[0].State == StateIdle && rep.Webhooks[0].Lag == 0
	}, nil)
	if rep.Head != 6 || rep.Webhooks[0].Acked != 6 || rep.Webhooks[0].LastDeliveredAt == nil {
		t.Fatalf("status %+v", rep)
	}
	_, metrics := tn.do(http.MethodGet, "/metrics", "", nil)
	for _, want := range []string{
		`scim_webhook_delivered_events_total{webhook="crm"} 6`,
		`scim_webhook_delivered_requests_total{webhook="crm"} 6`,
		`scim_webhook_lag_events{webhook="crm"} 0`,
		`scim_webhook_state{state="idle",webhook="crm"} 1`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestStatusEndpointScope: only the status scope reads /v1/webhooks, and
// the status scope reads nothing else.
func TestStatusEndpointScope(t *testing.T) {
	tn := newTenant(t)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, server.WebhooksPath, statusToken, http.StatusOK},
		{http.MethodGet, server.WebhooksPath, entraToken, http.StatusForbidden},
		{http.MethodGet, server.WebhooksPath, "", http.StatusUnauthorized},
		{http.MethodPost, server.WebhooksPath, statusToken, http.StatusMethodNotAllowed},
		{http.MethodGet, "/scim/v2/Users", statusToken, http.StatusForbidden},
		{http.MethodGet, server.EventsPath, statusToken, http.StatusForbidden},
	} {
		resp, body := tn.do(tc.method, tc.path, tc.token, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with %q: %d %s, want %d", tc.method, tc.path, tc.token, resp.StatusCode, body, tc.want)
		}
	}
}

// TestSlowReceiverNeverBlocksSCIM: while the receiver holds a delivery
// open, SCIM writes and reads go on; the receiver is released only after
// they all succeeded (if delivery blocked them, this would never finish).
func TestSlowReceiverNeverBlocksSCIM(t *testing.T) {
	tn := newTenant(t)
	rc := newReceiver(t)
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	var once sync.Once
	rc.setRespond(func(n int, r *http.Request, _ int64) int {
		if n == 0 {
			once.Do(func() { held <- struct{}{} })
			<-release
		}
		return http.StatusOK
	})
	tn.set(hook("slow", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Timeout = webhookconfig.Duration(5 * time.Minute) }))
	tn.createUser(0)
	<-held // the receiver now holds the first delivery
	for i := 1; i <= 50; i++ {
		tn.createUser(i)
	}
	if resp, body := tn.do(http.MethodGet, tn.srv.BasePath()+"/Users?count=1", entraToken, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /Users while the receiver hangs: %d %s", resp.StatusCode, body)
	}
	if s := statusOf(t, tn, "slow"); s.State != StateDelivering || s.Lag != 51 {
		t.Fatalf("status while held: %+v", s)
	}
	close(release)
	eventually(t, "51 delivered after release", func() bool { return len(rc.seqs()) == 51 }, nil)
	if got := rc.seqs(); !slices.Equal(got, seqRange(1, 51)) {
		t.Fatalf("delivered %v", got)
	}
}

func statusOf(t *testing.T, tn *tenant, name string) WebhookStatus {
	t.Helper()
	rep, err := tn.m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rep.Webhooks {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no webhook %s", name)
	return WebhookStatus{}
}
