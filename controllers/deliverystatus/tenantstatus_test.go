package deliverystatus

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// statusDoc is the documented JSON of GET /v1/status (docs/scimserver.md).
const statusDoc = `{"unknownAttributes":"Ignore",
 "droppedAttributes":[{"name":"shoeSize","resourceType":"User","count":3,"lastSeen":"2026-11-27T10:00:00Z"}],"rejectedAttributes":[],
 "users":{"active":950,"inactive":50},"groups":40,"inactiveCountedAt":"2026-11-27T09:58:00Z","startedAt":"2026-11-27T08:00:00Z",
 "tokens":[{"name":"acme-entra","revision":2,"fingerprint":"9f86d081884c","lastRequest":"2026-11-27T10:00:00Z"}],
 "lastRequest":"2026-11-27T10:00:00Z","lastWrite":"2026-11-27T09:59:58Z",
 "lastClientError":{"status":409,"scimType":"uniqueness","detail":"userName \"…\" is already taken by another User","time":"2026-11-27T09:40:00Z"},
 "clientErrors":{"windowSeconds":600,"requests":120,"errors":1}}`

// Every target's /v1/status is read; /v1/webhooks only of targets with
// webhooks.
func TestPollerStatusForEveryTarget(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case StatusPath:
			_, _ = w.Write([]byte(statusDoc))
		case Path:
			_, _ = w.Write([]byte(report))
		}
	}))
	defer srv.Close()
	var statuses []*TenantStatus
	webhooks := 0
	p := &Poller{
		Targets: func(context.Context) ([]Target, error) {
			return []Target{{Key: "a", URL: srv.URL, NoWebhooks: true}, {Key: "b", URL: srv.URL}}, nil
		},
		Apply: func(_ context.Context, _ Target, _ *Report, err error, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			webhooks++
		},
		ApplyStatus: func(_ context.Context, _ Target, st *TenantStatus, err error, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			statuses = append(statuses, st)
		},
		Concurrency: 1,
	}
	p.Round(context.Background(), nil)
	if len(statuses) != 2 || webhooks != 1 || paths[StatusPath] != 2 || paths[Path] != 1 {
		t.Fatalf("statuses %d, webhook reports %d, requests %v", len(statuses), webhooks, paths)
	}
	st := statuses[0]
	if st.Users == nil || st.Users.Active != 950 || st.Users.Inactive != 50 || st.Groups == nil || *st.Groups != 40 ||
		st.LastClientError == nil || st.LastClientError.ScimType != "uniqueness" || st.ClientErrors.Errors != 1 ||
		len(st.DroppedAttributes) != 1 || st.LastRequest == nil || st.LastWrite == nil {
		t.Fatalf("decoded %+v", st)
	}
	if u := st.LastUse("acme-entra", 2); u == nil || !u.Equal(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("LastUse = %v", u)
	}
	if st.LastUse("acme-entra", 1) != nil {
		t.Fatal("LastUse of an unreported revision")
	}
}
