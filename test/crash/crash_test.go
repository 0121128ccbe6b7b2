// Package crash proves the SCIM server's durability promise at process
// level: a write the server acknowledged (201 on POST /Users, 204 on a group
// PATCH) survives SIGKILL, no resource is ever half-written, and the change
// log (GET /v1/events) says exactly what the data says.
//
// The store has its own crash test (scimserver/store/crash_test.go); this one
// covers what sits above it: the HTTP handlers must not acknowledge before
// the transaction commits, and the binary must reopen a database that was
// killed mid-write.
package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

const (
	token    = "scim_crash_test"
	basePath = "/scim/v2"
	enterURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	rounds   = 3
	groups   = 4
)

// server is one run of the scimserver binary.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port/scim/v2
	done chan struct{}
}

// moduleRoot finds go.mod upwards from the test's directory, so the test
// builds the checkout it lives in.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func buildServer(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "scimserver")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/scimserver")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/scimserver: %v\n%s", err, out)
	}
	return bin
}

// freePort asks the kernel for an unused loopback port. The tiny race
// between closing it and the server binding it is acceptable in a test.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the server on dir's database and token file; extra flags are
// appended.
func start(t *testing.T, bin, dir string, logs io.Writer, extra ...string) *server {
	t.Helper()
	return startServer(t, bin, logs, append([]string{"--database", filepath.Join(dir, "scim.db"),
		"--token-file", filepath.Join(dir, "tokens.json"), "--log-level", "warn"}, extra...)...)
}

// startServer runs the server with args on a free port and waits until it
// is ready.
func startServer(t *testing.T, bin string, logs io.Writer, args ...string) *server {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(bin, append([]string{"--listen-address", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, base: "http://" + addr + basePath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("server exited before it was ready: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeTokenFile writes dir/tokens.json with the test's token (read and write).
func writeTokenFile(t *testing.T, dir string) {
	t.Helper()
	raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{{Name: "entra", SHA256: auth.Hash(token),
		Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}}}).Marshal()
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// client talks to whichever server is current.
type client struct {
	hc *http.Client
}

// newClient is the loads' client: keep-alive connections for the load's
// writers; a request hanging past the timeout is a failure of the load.
func newClient() *client {
	return &client{hc: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}}
}

func (c *client) do(ctx context.Context, method, url string, body any) (int, []byte, error) {
	st, _, out, err := c.doHeader(ctx, method, url, body)
	return st, out, err
}

// doHeader is do that also returns the response's header.
func (c *client) doHeader(ctx context.Context, method, url string, body any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		// A response cut short by the kill is not an acknowledgement.
		return 0, nil, nil, err
	}
	return res.StatusCode, res.Header, out, nil
}

// sentUser is what the test sent for one user.
type sentUser struct {
	UserName, ExternalID, DisplayName, Title, Given, Family, Email, EmployeeNumber string
	Active                                                                         bool
}

func (u sentUser) doc() map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterURN},
		"userName":    u.UserName,
		"externalId":  u.ExternalID,
		"active":      u.Active,
		"displayName": u.DisplayName,
		"title":       u.Title,
		"name":        map[string]any{"givenName": u.Given, "familyName": u.Family, "formatted": u.Given + " " + u.Family},
		"emails":      []any{map[string]any{"type": "work", "value": u.Email, "primary": true}},
		enterURN:      map[string]any{"employeeNumber": u.EmployeeNumber, "department": "R&D"},
	}
}

// gotUser reads back the same fields from a SCIM User.
func gotUser(raw map[string]any) sentUser {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	u := sentUser{UserName: str(raw, "userName"), ExternalID: str(raw, "externalId"),
		DisplayName: str(raw, "displayName"), Title: str(raw, "title")}
	u.Active, _ = raw["active"].(bool)
	if n, ok := raw["name"].(map[string]any); ok {
		u.Given, u.Family = str(n, "givenName"), str(n, "familyName")
	}
	if es, ok := raw["emails"].([]any); ok && len(es) == 1 {
		if e, ok := es[0].(map[string]any); ok {
			u.Email = str(e, "value")
		}
	}
	if ext, ok := raw[enterURN].(map[string]any); ok {
		u.EmployeeNumber = str(ext, "employeeNumber")
	}
	return u
}

// ledger records every acknowledged write and every attempted one.
type ledger struct {
	mu      sync.Mutex
	sent    map[string]sentUser        // userName -> what was sent (acked or not)
	users   map[string]sentUser        // id -> acknowledged user
	ids     []string                   // acknowledged user ids, for member adds
	members map[string]map[string]bool // group id -> acknowledged member ids
}

func newLedger() *ledger {
	return &ledger{sent: map[string]sentUser{}, users: map[string]sentUser{}, members: map[string]map[string]bool{}}
}

// acked is how many users the ledger has seen acknowledged.
func (l *ledger) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users)
}

// createGroups creates the load's groups through base.
func createGroups(t *testing.T, c *client, base string, l *ledger) []string {
	t.Helper()
	var gids []string
	for i := range groups {
		st, body, err := c.do(context.Background(), "POST", base+"/Groups",
			map[string]any{"displayName": fmt.Sprintf("crash group %d", i), "externalId": fmt.Sprint(i)})
		if err != nil || st != 201 {
			t.Fatalf("POST /Groups: %d %v %s", st, err, body)
		}
		var g struct{ ID string }
		json.Unmarshal(body, &g)
		gids = append(gids, g.ID)
		l.members[g.ID] = map[string]bool{}
	}
	return gids
}

func newUser(round, n int) sentUser {
	// Every attribute is unique per user so a torn or mixed-up row shows.
	tag := fmt.Sprintf("r%d-%06d", round, n)
	return sentUser{
		UserName: "crash-" + tag + "@contoso.com", ExternalID: "ext-" + tag, DisplayName: "Crash " + tag,
		Title: "Title " + tag, Given: "Given" + tag, Family: "Family" + tag, Email: "mail-" + tag + "@contoso.com",
		EmployeeNumber: "emp-" + tag, Active: n%2 == 0,
	}
}

// loadStats counts what one run of load saw. With retryUnavailable, a 503
// carrying Retry-After (the database is down) is retried after that delay,
// as Entra does, and a create answered 409 on such a retry is one that
// committed before its 503 could be sent (stored, not acknowledged); without
// it (nil stats too), any answer but 201 or 204 is an error.
type loadStats struct {
	retryUnavailable bool

	mu          sync.Mutex
	acked       int   // writes acknowledged
	unavailable int   // 503s with Retry-After, retried
	unacked     int   // creates found committed on their retry
	connErr     error // the first connection error (a killed server, a hang past the timeout)
}

// add counts one of what field picks; nil stats count nothing.
func (s *loadStats) add(field func(*loadStats) *int) {
	if s != nil {
		s.mu.Lock()
		*field(s)++
		s.mu.Unlock()
	}
}

func ackedField(s *loadStats) *int       { return &s.acked }
func unavailableField(s *loadStats) *int { return &s.unavailable }
func unackedField(s *loadStats) *int     { return &s.unacked }

func (s *loadStats) lost(ctx context.Context, err error) {
	if s != nil && ctx.Err() == nil {
		s.mu.Lock()
		if s.connErr == nil {
			s.connErr = err
		}
		s.mu.Unlock()
	}
}

// snapshot returns the counts.
func (s *loadStats) snapshot() (acked, unavailable, unacked int, connErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked, s.unavailable, s.unacked, s.connErr
}

// write sends one write of the load, retrying 503s with Retry-After when
// the stats say so; retried reports that an earlier attempt got one. The
// end of ctx stops the retries but not a request already sent: cancelling
// it would leave a write the server still commits (a write runs to its
// commit once started, and with group commit may wait for a batch)
// unaccounted for while the checks already read the directory.
func (s *loadStats) write(ctx context.Context, c *client, method, url string, body any) (st int, out []byte, retried bool, err error) {
	for {
		var hdr http.Header
		st, hdr, out, err = c.doHeader(context.WithoutCancel(ctx), method, url, body)
		if err != nil || st != http.StatusServiceUnavailable || s == nil || !s.retryUnavailable {
			return st, out, retried, err
		}
		after, perr := strconv.Atoi(hdr.Get("Retry-After"))
		if perr != nil || after <= 0 {
			return st, out, retried, nil // a 503 without Retry-After: the caller's error
		}
		s.add(unavailableField)
		retried = true
		select {
		case <-ctx.Done():
			return 0, nil, retried, ctx.Err()
		case <-time.After(time.Duration(after) * time.Second):
		}
	}
}

// load runs creators and member adders until ctx ends or the server is
// gone, recording each acknowledged write in l and counting in stats
// (which may be nil).
func load(ctx context.Context, t *testing.T, c *client, base string, round int, gids []string, l *ledger, stats *loadStats) {
	var wg sync.WaitGroup
	var seq struct {
		sync.Mutex
		n int
	}
	next := func() int { seq.Lock(); defer seq.Unlock(); seq.n++; return seq.n }
	for range 6 {
		wg.Go(func() {
			for ctx.Err() == nil {
				u := newUser(round, next())
				l.mu.Lock()
				l.sent[u.UserName] = u
				l.mu.Unlock()
				st, body, retried, err := stats.write(ctx, c, "POST", base+"/Users", u.doc())
				if err != nil {
					stats.lost(ctx, err)
					return // server killed
				}
				if st == http.StatusConflict && retried {
					stats.add(unackedField)
					continue
				}
				if st != 201 {
					t.Errorf("POST /Users: %d %s", st, body)
					return
				}
				var r struct{ ID string }
				if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
					t.Errorf("POST /Users: bad body %s", body)
					return
				}
				l.mu.Lock()
				l.users[r.ID] = u
				l.ids = append(l.ids, r.ID)
				l.mu.Unlock()
				stats.add(ackedField)
			}
		})
	}
	for w := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
			for ctx.Err() == nil {
				l.mu.Lock()
				var batch []string
				if len(l.ids) > 0 {
					for range 5 {
						batch = append(batch, l.ids[rng.IntN(len(l.ids))])
					}
				}
				l.mu.Unlock()
				if batch == nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				gid := gids[rng.IntN(len(gids))]
				vals := make([]any, len(batch))
				for i, id := range batch {
					vals[i] = map[string]any{"value": id}
				}
				patch := map[string]any{
					"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": vals}},
				}
				st, body, _, err := stats.write(ctx, c, "PATCH", base+"/Groups/"+gid, patch)
				if err != nil {
					stats.lost(ctx, err)
					return
				}
				if st != 204 {
					t.Errorf("PATCH /Groups: %d %s", st, body)
					return
				}
				l.mu.Lock()
				for _, id := range batch {
					l.members[gid][id] = true
				}
				l.mu.Unlock()
				stats.add(ackedField)
			}
		})
	}
	wg.Wait()
}

// listUsers pages through every user.
func listUsers(t *testing.T, c *client, base string) []map[string]any {
	var all []map[string]any
	for start := 1; ; start += 1000 {
		st, body, err := c.do(context.Background(), "GET", fmt.Sprintf("%s/Users?startIndex=%d&count=1000", base, start), nil)
		if err != nil || st != 200 {
			t.Fatalf("list users: %d %v %s", st, err, body)
		}
		var page struct {
			TotalResults int
			Resources    []map[string]any
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Resources...)
		if len(page.Resources) == 0 || len(all) >= page.TotalResults {
			return all
		}
	}
}

func verify(t *testing.T, c *client, base string, l *ledger) (users, members int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Every stored user, acknowledged or not, must be exactly one that was
	// sent: a commit that raced the kill may exist, a torn one may not.
	stored := map[string]bool{}
	for _, raw := range listUsers(t, c, base) {
		id, _ := raw["id"].(string)
		got := gotUser(raw)
		want, ok := l.sent[got.UserName]
		if !ok {
			t.Errorf("stored user %s %q was never sent", id, got.UserName)
			continue
		}
		if got != want {
			t.Errorf("user %s half-written:\n got %+v\nwant %+v", id, got, want)
		}
		stored[id] = true
	}
	for id, want := range l.users {
		if !stored[id] {
			t.Errorf("acknowledged user %s (%s) lost", id, want.UserName)
			continue
		}
		// GET by id too: it is the path Entra uses after a create.
		st, body, err := c.do(context.Background(), "GET", base+"/Users/"+id, nil)
		if err != nil || st != 200 {
			t.Errorf("GET acknowledged user %s: %d %v", id, st, err)
			continue
		}
		var raw map[string]any
		json.Unmarshal(body, &raw)
		if got := gotUser(raw); got != want {
			t.Errorf("user %s by id:\n got %+v\nwant %+v", id, got, want)
		}
	}
	haveByGroup := map[string]map[string]bool{}
	for gid, want := range l.members {
		st, body, err := c.do(context.Background(), "GET", base+"/Groups/"+gid, nil)
		if err != nil || st != 200 {
			t.Fatalf("GET group %s: %d %v", gid, st, err)
		}
		var g struct{ Members []struct{ Value string } }
		if err := json.Unmarshal(body, &g); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, m := range g.Members {
			if !stored[m.Value] {
				t.Errorf("group %s has member %s that is not a stored user", gid, m.Value)
			}
			have[m.Value] = true
		}
		for id := range want {
			if !have[id] {
				t.Errorf("acknowledged membership %s in group %s lost", id, gid)
			}
		}
		haveByGroup[gid] = have
		members += len(want)
	}
	verifyLog(t, c, base[:len(base)-len(basePath)], stored, haveByGroup)
	return len(l.users), members
}

// feedEvent is the part of a change-feed event the check reads.
type feedEvent struct {
	Seq        int64
	ID         string
	Type       string
	ResourceID string
	Member     *struct{ Value string }
}

// verifyLog reads the whole change feed after a restart: cursors without a
// gap or duplicate, exactly one user.created per stored user (every
// acknowledged one, plus any commit that raced the kill; none for a write
// that did not commit), and per group exactly one member_added per member.
func verifyLog(t *testing.T, c *client, root string, stored map[string]bool, members map[string]map[string]bool) {
	t.Helper()
	var evs []feedEvent
	for after := int64(0); ; {
		st, body, err := c.do(context.Background(), "GET", fmt.Sprintf("%s/v1/events?after=%d&limit=1000", root, after), nil)
		if err != nil || st != 200 {
			t.Fatalf("GET /v1/events: %d %v %s", st, err, body)
		}
		var page struct {
			Events []feedEvent
			Next   int64
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			break
		}
		evs = append(evs, page.Events...)
		after = page.Next
	}
	created := map[string]int{}
	added := map[string]map[string]int{}
	ids := map[string]bool{}
	for i, e := range evs {
		if e.Seq != int64(i+1) || ids[e.ID] {
			t.Fatalf("event %d: seq %d, id %s seen before: %v", i, e.Seq, e.ID, ids[e.ID])
		}
		ids[e.ID] = true
		switch e.Type {
		case "user.created":
			created[e.ResourceID]++
		case "group.member_added":
			if added[e.ResourceID] == nil {
				added[e.ResourceID] = map[string]int{}
			}
			added[e.ResourceID][e.Member.Value]++
		case "group.created":
		default:
			t.Errorf("unexpected event %s", e.Type)
		}
	}
	if len(created) != len(stored) {
		t.Errorf("%d user.created events for %d stored users", len(created), len(stored))
	}
	for id, n := range created {
		if n != 1 || !stored[id] {
			t.Errorf("user %s: %d user.created events, stored %v", id, n, stored[id])
		}
	}
	for gid, have := range members {
		if len(added[gid]) != len(have) {
			t.Errorf("group %s: %d members, %d member_added events", gid, len(have), len(added[gid]))
		}
		for id, n := range added[gid] {
			if n != 1 || !have[id] {
				t.Errorf("group %s member %s: %d member_added events, member %v", gid, id, n, have[id])
			}
		}
	}
	t.Logf("change log: %d events, consistent with %d users and the memberships", len(evs), len(stored))
}

// TestSIGKILLKeepsAcknowledgedWrites kills the server mid-load in several
// rounds and checks, after each restart on the same database, that every
// acknowledged user and membership is there and every user is whole.
func TestSIGKILLKeepsAcknowledgedWrites(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs SIGKILL semantics of Linux")
	}
	dir := t.TempDir()
	bin := buildServer(t, dir)
	writeTokenFile(t, dir)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := newClient()
	l := newLedger()

	s := start(t, bin, dir, logf)
	gids := createGroups(t, c, s.base, l)

	rng := rand.New(rand.NewPCG(1, 2))
	for round := 1; round <= rounds; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { load(ctx, t, c, s.base, round, gids, l, nil); close(done) }()
		// Kill at a random moment, while requests are in flight.
		time.Sleep(time.Duration(700+rng.IntN(800)) * time.Millisecond)
		s.kill()
		<-done
		cancel()
		// Connections to the dead process are useless.
		c.hc.Transport.(*http.Transport).CloseIdleConnections()

		s = start(t, bin, dir, logf)
		users, members := verify(t, c, s.base, l)
		t.Logf("round %d: SIGKILL mid-load; after restart %d acknowledged users and %d acknowledged memberships all present and whole",
			round, users, members)
		if users == 0 || members == 0 {
			t.Errorf("round %d acknowledged nothing: the load did not run", round)
		}
		if t.Failed() {
			logs, _ := os.ReadFile(logf.Name())
			t.Fatalf("round %d failed; server log:\n%s", round, logs)
		}
	}
}
