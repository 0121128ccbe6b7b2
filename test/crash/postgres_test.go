package crash

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// pgReplicas is two scimserver processes on one PostgreSQL schema, as two
// replicas of a storage.postgres tenant, and the load's client and ledger.
type pgReplicas struct {
	bin, urlFile, schema string
	logf                 *os.File
	c                    *client
	l                    *ledger
	gids                 []string
}

func newPGReplicas(t *testing.T, url, schema string) (*pgReplicas, []*server) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs SIGKILL semantics of Linux")
	}
	dir := t.TempDir()
	r := &pgReplicas{bin: buildServer(t, dir), urlFile: filepath.Join(dir, "db-url"), schema: schema, l: newLedger()}
	writeTokenFile(t, dir)
	// The URL as the operator passes it: a mounted file, never a flag.
	if err := os.WriteFile(r.urlFile, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.logf, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := os.ReadFile(r.logf.Name())
			t.Logf("servers' log:\n%s", logs)
		}
		r.logf.Close()
	})
	r.c = newClient()
	servers := []*server{r.start(t), r.start(t)}
	r.gids = createGroups(t, r.c, servers[0].base, r.l)
	return r, servers
}

// start runs one more replica.
func (r *pgReplicas) start(t *testing.T) *server {
	t.Helper()
	return startServer(t, r.bin, r.logf, "--postgres-url-file", r.urlFile, "--postgres-schema", r.schema,
		"--token-file", filepath.Join(filepath.Dir(r.urlFile), "tokens.json"), "--log-level", "warn")
}

// run starts the Entra-shaped write load (creates, member adds to the
// shared groups) against a server until ctx ends; wait returns when it has.
func (r *pgReplicas) run(ctx context.Context, t *testing.T, s *server, round int, stats *loadStats) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { load(ctx, t, r.c, s.base, round, r.gids, r.l, stats) })
	return wg.Wait
}

// waitFor polls cond until it is true, failing after a guard against hangs
// (not a performance bound).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readyz(s *server) int {
	res, err := http.Get(strings.TrimSuffix(s.base, basePath) + "/readyz")
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func alive(s *server) bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// TestPostgresRestartUnderLoad: two server processes on one schema under
// a concurrent Entra-shaped write load against both; PostgreSQL crashes
// (immediate stop) and comes back mid-load. During the outage both
// servers answer 503 with Retry-After (the load fails on any other 5xx or
// on a request hanging past the client timeout) and report not ready;
// after it both serve again without a restart. Every acknowledged write
// is stored, whole, once (no duplicate userName), and the change log is
// gap-free with exactly one event per stored write.
func TestPostgresRestartUnderLoad(t *testing.T) {
	db := pgtest.StartServer(t)
	r, servers := newPGReplicas(t, db.URL, "tenant_restart")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stats := []*loadStats{{retryUnavailable: true}, {retryUnavailable: true}}
	var waits []func()
	for i, s := range servers {
		waits = append(waits, r.run(ctx, t, s, i+1, stats[i]))
	}
	ackedBy := func(i int) int { n, _, _, _ := stats[i].snapshot(); return n }
	waitFor(t, "writes through both servers before the outage", func() bool { return ackedBy(0) >= 100 && ackedBy(1) >= 100 })

	db.Down()
	waitFor(t, "both servers not ready and answering 503 with Retry-After", func() bool {
		for i, s := range servers {
			if _, unavailable, _, _ := stats[i].snapshot(); unavailable == 0 || readyz(s) != http.StatusServiceUnavailable {
				return false
			}
		}
		return true
	})
	before := []int{ackedBy(0), ackedBy(1)}
	db.Up()
	waitFor(t, "both servers ready and acknowledging writes again", func() bool {
		for i, s := range servers {
			if readyz(s) != http.StatusOK || ackedBy(i) < before[i]+100 {
				return false
			}
		}
		return true
	})
	cancel()
	for _, w := range waits {
		w()
	}
	for i, s := range servers {
		n, unavailable, unacked, connErr := stats[i].snapshot()
		if connErr != nil {
			t.Fatalf("server %d: a request failed without an answer: %v", i, connErr)
		}
		if !alive(s) {
			t.Fatalf("server %d exited: it must ride out the outage", i)
		}
		t.Logf("server %d: %d writes acknowledged, %d 503s with Retry-After retried, %d creates found committed on their retry", i, n, unavailable, unacked)
	}
	if t.Failed() {
		t.FailNow()
	}
	checkReplicas(t, r, servers)
}

// TestPostgresReplicaSIGKILL: two server processes on one schema under a
// concurrent write load; one is SIGKILLed mid-load while the other keeps
// acknowledging writes, then it is started again and takes load. Every
// write either acknowledged is stored, whole, once, and the change log is
// gap-free with exactly one event per stored write. (TestReplicaCrash in
// scimserver/store/postgres kills two store processes; this kills the
// server binary, so the HTTP layer must not acknowledge before commit.)
func TestPostgresReplicaSIGKILL(t *testing.T) {
	url, schema := pgtest.Schema(t)
	r, servers := newPGReplicas(t, url, schema)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stats := []*loadStats{{}, {}}
	var waits []func()
	for i, s := range servers {
		waits = append(waits, r.run(ctx, t, s, i+1, stats[i]))
	}
	ackedBy := func(st *loadStats) int { n, _, _, _ := st.snapshot(); return n }
	waitFor(t, "writes through both servers", func() bool { return ackedBy(stats[0]) >= 150 && ackedBy(stats[1]) >= 150 })

	servers[0].kill()
	waits[0]()
	if _, _, _, err := stats[0].snapshot(); err == nil {
		t.Log("the killed server's load saw no broken request (the kill fell between requests)")
	}
	survivor := ackedBy(stats[1])
	waitFor(t, "the other server acknowledging writes after the kill", func() bool { return ackedBy(stats[1]) >= survivor+150 })

	r.c.hc.Transport.(*http.Transport).CloseIdleConnections()
	servers[0] = r.start(t)
	again := &loadStats{}
	waits[0] = r.run(ctx, t, servers[0], 3, again)
	waitFor(t, "the restarted server acknowledging writes", func() bool { return ackedBy(again) >= 100 })
	cancel()
	for _, w := range waits {
		w()
	}
	if _, _, _, err := stats[1].snapshot(); err != nil {
		t.Fatalf("the surviving server failed a request: %v", err)
	}
	if _, _, _, err := again.snapshot(); err != nil {
		t.Fatalf("the restarted server failed a request: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	checkReplicas(t, r, servers)
}

// checkReplicas verifies the ledger through the first server (every
// acknowledged write there and whole, the change log consistent) and that
// the second sees the same users.
func checkReplicas(t *testing.T, r *pgReplicas, servers []*server) {
	t.Helper()
	users, members := verify(t, r.c, servers[0].base, r.l)
	names := map[string]bool{}
	for _, u := range listUsers(t, r.c, servers[1].base) {
		name := strings.ToLower(fmt.Sprint(u["userName"]))
		if names[name] {
			t.Errorf("userName %s stored twice", name)
		}
		names[name] = true
	}
	if all := listUsers(t, r.c, servers[0].base); len(all) != len(names) {
		t.Errorf("the replicas see %d and %d users", len(all), len(names))
	}
	t.Logf("%d acknowledged users and %d acknowledged memberships all present and whole, %d users stored, read through both replicas", users, members, len(names))
}

// TestPostgresPasswordRotation: the database role's password changes (as
// CloudNativePG rotates the <cluster>-app Secret) under two running
// servers, and their sessions end. Until the mounted URL file has the new
// password, both answer writes 503 with Retry-After and report not ready;
// once it has, both serve again without a restart, with every earlier
// write there.
func TestPostgresPasswordRotation(t *testing.T) {
	db := pgtest.StartServer(t)
	oldURL := db.PasswordRole(t, "scim_rotating", "first-password")
	r, servers := newPGReplicas(t, oldURL, "tenant_rotation")
	ctx := context.Background()
	n := 0
	create := func(s *server) (int, http.Header, []byte) {
		n++
		st, hdr, body, err := r.c.doHeader(ctx, "POST", s.base+"/Users", newUser(9, n).doc())
		if err != nil {
			t.Fatalf("POST /Users: %v", err)
		}
		return st, hdr, body
	}
	created := 0
	for _, s := range servers {
		if st, _, body := create(s); st != http.StatusCreated {
			t.Fatalf("before the rotation: %d %s", st, body)
		}
		created++
	}

	db.Exec(t, `ALTER ROLE scim_rotating PASSWORD `+pgtest.Literal("second-password"))
	db.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'scim_rotating'`)
	for i, s := range servers {
		waitFor(t, fmt.Sprintf("server %d not ready with the old password", i), func() bool { return readyz(s) == http.StatusServiceUnavailable })
		if st, hdr, body := create(s); st != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("server %d, a write with the old password: %d Retry-After %q %s", i, st, hdr.Get("Retry-After"), body)
		}
	}

	// The kubelet updates the mounted file: a new file renamed over it.
	tmp := r.urlFile + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Replace(oldURL, "first-password", "second-password", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, r.urlFile); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		waitFor(t, fmt.Sprintf("server %d ready with the new password", i), func() bool { return readyz(s) == http.StatusOK })
		if st, _, body := create(s); st != http.StatusCreated {
			t.Fatalf("server %d after the file changed: %d %s", i, st, body)
		}
		created++
		if !alive(s) {
			t.Fatalf("server %d exited", i)
		}
	}
	if got := len(listUsers(t, r.c, servers[1].base)); got != created {
		t.Fatalf("%d users stored, %d created", got, created)
	}
}
