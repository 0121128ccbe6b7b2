package scimctl

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// operatorSecret gives the tenant the Secret with the operator's status
// token (older operators do not create it) and returns the token.
func operatorSecret(t *testing.T, ns, tenant string) string {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operatorTokenSecret(tenant)},
		StringData: map[string]string{"token": "scimop_test_activity"}}
	if err := k8s.Create(context.Background(), s); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return secretToken(t, ns, operatorTokenSecret(tenant))
}

// TestActivityWithoutActivityLog: a server version without GET /v1/activity
// (the one on this branch) answers 404; the plugin says so and exits 1.
func TestActivityWithoutActivityLog(t *testing.T) {
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	operatorSecret(t, ns, "acme")
	r := kubectlScim(t, "activity", "acme", "-n", ns, "--url", "http://"+rt.ServerAddr(ns, "acme-scim"))
	if r.code != ExitError || !strings.Contains(r.errOut, "this server version has no activity log") {
		t.Fatalf("want the no-activity-log error:\n%s", r)
	}
	// Through the local ingress, which routes only the SCIM base path: the
	// error says so rather than blaming the server.
	r = kubectlScim(t, "activity", "acme", "-n", ns, "--url", "http://"+rt.IngressAddr(), "--host-header", host)
	if r.code != ExitError || !strings.Contains(r.errOut, "does not reach the tenant's server itself") {
		t.Fatalf("want the not-the-server error:\n%s", r)
	}
	r = kubectlScim(t, "activity", "acme", "-n", ns, "--token-secret", "absent", "--url", "http://"+rt.ServerAddr(ns, "acme-scim"))
	if r.code != ExitError || !strings.Contains(r.errOut, "Secret "+ns+"/absent") {
		t.Fatalf("missing token Secret:\n%s", r)
	}
}

// activityLog serves GET /v1/activity as documented for the STATUS work
// ({"entries":[...],"next":...}), to check the client against that
// contract until a server on this branch implements it.
type activityLog struct {
	mu      sync.Mutex
	token   string
	entries []activityEntry
	sinces  []string
	polled  chan struct{}
}

func (l *activityLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ActivityPath || r.Header.Get("Authorization") != "Bearer "+l.token {
		http.Error(w, `{"detail":"no"}`, http.StatusUnauthorized)
		return
	}
	since := r.URL.Query().Get("since")
	l.mu.Lock()
	l.sinces = append(l.sinces, since)
	// The cursor is the index of the next entry; a time (the first
	// request) starts at the beginning.
	from, err := strconv.Atoi(since)
	if err != nil {
		from = 0
	}
	out := []activityEntry{}
	if from < len(l.entries) {
		out = append(out, l.entries[from:]...)
	}
	next := strconv.Itoa(len(l.entries))
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"entries": out, "next": next})
	select {
	case l.polled <- struct{}{}:
	default:
	}
}

func (l *activityLog) add(e activityEntry) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
}

func TestActivityReadsAndFollows(t *testing.T) {
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	log := &activityLog{token: operatorSecret(t, ns, "acme"), polled: make(chan struct{}, 1)}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	log.add(activityEntry{Time: at, Method: "GET", Path: "/scim/v2/Users", Status: 200, Token: "abcdef012345", DurationMs: 3})
	log.add(activityEntry{Time: at.Add(time.Second), Method: "POST", Path: "/scim/v2/Users", Status: 400, ScimType: "invalidValue", Detail: "emails required", Token: "abcdef012345", DurationMs: 5})
	ts := httptest.NewServer(log)
	defer ts.Close()

	r := kubectlScim(t, "activity", "acme", "-n", ns, "--url", ts.URL)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != ExitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("activity:\n%s", r)
	}
	if f := strings.Fields(lines[2]); f[0] != "2026-11-27T10:00:01Z" || f[1] != "POST" || f[3] != "400" || f[4] != "invalidValue" || f[5] != "abcdef012345" || !strings.HasSuffix(lines[2], "emails required") {
		t.Fatalf("second entry: %q", lines[2])
	}
	if _, err := time.Parse(time.RFC3339Nano, log.sinces[0]); err != nil {
		t.Fatalf("the first request asks since a time (--since): %q", log.sinces[0])
	}

	r = kubectlScim(t, "activity", "acme", "-n", ns, "--url", ts.URL, "-o", "json")
	var doc struct{ Entries []activityEntry }
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil || len(doc.Entries) != 2 || doc.Entries[1].Detail != "emails required" {
		t.Fatalf("-o json: %v\n%s", err, r)
	}

	// --follow asks again from the cursor the server gave (next) and prints
	// only what is new, until interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	select { // forget the earlier runs' polls
	case <-log.polled:
	default:
	}
	go func() { done <- kubectlScimCtx(ctx, t, "activity", "acme", "-n", ns, "--url", ts.URL, "--follow") }()
	<-log.polled
	log.add(activityEntry{Time: at.Add(2 * time.Second), Method: "PATCH", Path: "/scim/v2/Users/1", Status: 204, Token: "abcdef012345", DurationMs: 2})
	<-log.polled
	<-log.polled
	cancel()
	r = <-done
	if r.code != ExitOK || strings.Count(r.out, "PATCH") != 1 || strings.Count(r.out, "POST") != 1 {
		t.Fatalf("--follow prints each entry once:\n%s", r)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if last := log.sinces[len(log.sinces)-1]; last != "3" {
		t.Fatalf("--follow continues from next: asked since %q", last)
	}
}
