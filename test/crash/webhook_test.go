package crash

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// mirror is a webhook receiver that verifies every request and keeps the
// first copy of each event (at-least-once: a redelivery after a crash is
// recognised by its webhook-id).
type mirror struct {
	t  *testing.T
	wh *standardwebhooks.Webhook

	mu      sync.Mutex
	seen    map[string]bool
	arrival []eventlog.Event // first copies, in arrival order
	dups    int
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := m.wh.Verify(body, r.Header); err != nil {
		m.t.Errorf("signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e eventlog.Event
	if err := json.Unmarshal(body, &e); err != nil {
		m.t.Errorf("body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	if m.seen[r.Header.Get("webhook-id")] {
		m.dups++
	} else {
		m.seen[r.Header.Get("webhook-id")] = true
		m.arrival = append(m.arrival, e)
	}
	m.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (m *mirror) events() []eventlog.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]eventlog.Event(nil), m.arrival...)
}

// TestSIGKILLWithWebhook kills the server during a write load while it
// delivers to a webhook, several times. After the last restart the
// receiver eventually holds every event of the log, first copies in order
// with no gap, and one event per acknowledged write: a user.created per
// acknowledged user, a group.member_added per acknowledged membership.
func TestSIGKILLWithWebhook(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs SIGKILL semantics of Linux")
	}
	dir := t.TempDir()
	bin := buildServer(t, dir)
	writeTokenFile(t, dir)
	secret, err := webhookconfig.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	rcv := &mirror{t: t, wh: wh, seen: map[string]bool{}}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	file := &webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{{
		Name: "mirror", URL: hs.URL, Secrets: []string{secret},
		Timeout: webhookconfig.Duration(5 * time.Second),
	}}}
	raw, _ := file.Marshal()
	if err := os.WriteFile(filepath.Join(dir, "webhooks.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--webhooks-file", filepath.Join(dir, "webhooks.json")}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := newClient()
	l := newLedger()

	s := start(t, bin, dir, logf, flags...)
	gids := createGroups(t, c, s.base, l)
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 1; round <= rounds; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { load(ctx, t, c, s.base, round, gids, l, nil); close(done) }()
		time.Sleep(time.Duration(500+rng.IntN(800)) * time.Millisecond) // kill at a random moment
		s.kill()
		<-done
		cancel()
		c.hc.Transport.(*http.Transport).CloseIdleConnections()
		s = start(t, bin, dir, logf, flags...)
	}

	// The feed's head after the last restart; no more writes.
	st, body, err := c.do(context.Background(), "GET", strings.TrimSuffix(s.base, basePath)+"/v1/events/head", nil)
	if err != nil || st != 200 {
		t.Fatalf("GET /v1/events/head: %d %v %s", st, err, body)
	}
	var head struct{ Seq int64 }
	json.Unmarshal(body, &head)
	guard := time.Now().Add(2 * time.Minute) // a hang guard, not a performance bound
	for len(rcv.events()) < int(head.Seq) {
		if time.Now().After(guard) {
			logs, _ := os.ReadFile(logf.Name())
			t.Fatalf("receiver has %d of %d events; server log:\n%s", len(rcv.events()), head.Seq, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs := rcv.events()
	for i, e := range evs {
		if e.Seq != int64(i)+1 {
			t.Fatalf("event %d of the receiver has seq %d: a gap or reordering (want first copies 1..%d in order)", i, e.Seq, head.Seq)
		}
	}
	created := map[string]int{}
	added := map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case eventlog.UserCreated:
			created[e.ResourceID]++
		case eventlog.GroupMemberAdded:
			added[e.ResourceID+"/"+e.Member.Value] = true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.users {
		if created[id] != 1 {
			t.Errorf("acknowledged user %s: %d user.created events received, want 1", id, created[id])
		}
	}
	var memberships int
	for gid, ms := range l.members {
		for uid := range ms {
			memberships++
			if !added[gid+"/"+uid] {
				t.Errorf("acknowledged membership %s in %s: no group.member_added received", uid, gid)
			}
		}
	}
	types := map[string]int{}
	for _, e := range evs {
		types[e.Type]++
	}
	keys := make([]string, 0, len(types))
	for k := range types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%d SIGKILLs during load: %d events received in order without gaps (%d redelivered duplicates dropped by webhook-id); %d acknowledged users, %d acknowledged memberships all present; types %v",
		rounds, len(evs), rcv.dups, len(l.users), memberships, types)
}
