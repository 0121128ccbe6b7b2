package postgres

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// The replica crash test runs this test binary twice more as loader
// processes (two replicas, selected by crashEnv) on one schema, SIGKILLs
// them one after the other mid-load and checks that every write a loader
// saw acknowledged survived and the change log agrees with the data.
const crashEnv = "POSTGRES_CRASH_TEST"

// TestCrashLoader is a replica: it creates users from 4 goroutines, adds
// every tenth to the shared group, and prints one line per acknowledged
// write. It does nothing in a normal test run.
func TestCrashLoader(t *testing.T) {
	env := os.Getenv(crashEnv)
	if env == "" {
		t.Skip("helper process for TestReplicaCrash")
	}
	parts := strings.SplitN(env, "|", 3) // url|schema|replica
	if len(parts) != 3 {
		t.Fatalf("%s=%q", crashEnv, env)
	}
	url, schema, replica := parts[0], parts[1], parts[2]
	fail := func(err error) { fmt.Println("ERR", err); os.Exit(2) }
	s, err := Open(context.Background(), url, WithSchema(schema))
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	var mu sync.Mutex // one write(2) per line
	ack := func(kind, id string) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "%s %s END\n", kind, id)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-w%d-%06d", replica, w, i)
				if err := s.Create(ctx, user(id, id+"@Contoso.com")); err != nil {
					fail(err)
				}
				ack("USER", id)
				if i%10 == 0 {
					if _, err := s.Update(ctx, store.Group, "g", func(*store.Resource) (map[string]any, []store.MemberOp, error) {
						return nil, []store.MemberOp{{Kind: store.MemberAdd, Members: []store.Member{{Value: id}}}}, nil
					}); err != nil {
						fail(err)
					}
					ack("MEMBER", id)
				}
			}
		})
	}
	wg.Wait()
}

// loader is one running replica and what it acknowledged.
type loader struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	users   []string
	members []string
	err     string
	done    chan struct{}
	dbURL   string // the test's URL, without the loader's session name
	app     string // the loader's sessions' application_name
}

func startLoader(t *testing.T, dbURL, schema, replica string) *loader {
	t.Helper()
	// The loader's sessions carry a name of their own, so that after the
	// kill the test can wait for them to end (backendsGone).
	app := "scim-crash-" + schema + "-" + replica
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoader$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+u.String()+"|"+schema+"|"+replica)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &loader{cmd: cmd, done: make(chan struct{}), dbURL: dbURL, app: app}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// A line cut by the kill has no END: not acknowledged.
			f := strings.Fields(sc.Text())
			l.mu.Lock()
			switch {
			case len(f) == 3 && f[0] == "USER" && f[2] == "END":
				l.users = append(l.users, f[1])
			case len(f) == 3 && f[0] == "MEMBER" && f[2] == "END":
				l.members = append(l.members, f[1])
			case len(f) > 0 && f[0] == "ERR":
				l.err = sc.Text()
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// killAfter SIGKILLs the loader once it acknowledged n creates.
func (l *loader) killAfter(t *testing.T, n int) {
	t.Helper()
	for {
		l.mu.Lock()
		got, bad := len(l.users), l.err
		l.mu.Unlock()
		if bad != "" {
			t.Fatalf("loader failed: %s", bad)
		}
		if got >= n {
			break
		}
		select {
		case <-l.done:
			t.Fatalf("loader exited after %d creates", got)
		default:
		}
		syscallYield()
	}
	if err := l.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = l.cmd.Wait()
	<-l.done
	l.backendsGone(t)
}

// backendsGone waits until the killed loader's database sessions ended. A
// COMMIT the loader sent just before it died still runs to its end in its
// server process, so until then the log may still grow under the checks
// (a head read after the events, in another snapshot, then disagrees with
// them), as it may in production: what the kill must not do is lose an
// acknowledged write or tear one.
func (l *loader) backendsGone(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, l.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	guard := time.Now().Add(time.Minute) // against a hang, not a performance bound
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, l.app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(guard) {
			t.Fatalf("%d sessions of the killed loader %s still open after a minute", n, l.app)
		}
		syscallYield()
	}
}

// syscallYield lets the loader run: the parent polls its progress.
func syscallYield() { _ = syscall.Nanosleep(&syscall.Timespec{Nsec: 1e6}, nil) }

// TestReplicaCrash: two replicas write to one schema; one is SIGKILLed,
// the other keeps writing, then is SIGKILLed too. Every acknowledged
// create and member add is there, and the change log is gap-free and
// agrees with the data (one user.created per user, one member_added per
// member).
func TestReplicaCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns loader processes")
	}
	url, schema := pgtest.Schema(t)
	s := openAt(t, url, schema)
	ctx := context.Background()
	if err := s.Create(ctx, &store.Resource{Kind: store.Group, ID: "g", Doc: map[string]any{"displayName": "G"}}); err != nil {
		t.Fatal(err)
	}
	a, b := startLoader(t, url, schema, "a"), startLoader(t, url, schema, "b")
	a.killAfter(t, 300)
	b.mu.Lock()
	bBefore := len(b.users)
	b.mu.Unlock()
	b.killAfter(t, bBefore+300) // b keeps serving after a died
	t.Logf("killed a after %d creates, b after %d (%d member adds)", len(a.users), len(b.users), len(a.members)+len(b.members))

	users := append(a.users, b.users...)
	lost := 0
	for _, id := range users {
		if _, err := s.Get(ctx, store.User, id, false); err != nil {
			if lost++; lost < 5 {
				t.Errorf("acknowledged user %s: %v", id, err)
			}
		}
	}
	g, err := s.Get(ctx, store.Group, "g", true)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, m := range g.Members {
		in[m.Value] = true
	}
	for _, id := range append(a.members, b.members...) {
		if !in[id] {
			if lost++; lost < 10 {
				t.Errorf("acknowledged member %s missing", id)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}

	// The log agrees with the data: what committed, and only that.
	p, err := s.List(ctx, store.User, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	evs, next, err := s.ReadEvents(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: a gap", i, e.Seq)
		}
		count[e.Type]++
	}
	if h, _ := s.EventHead(ctx); h != next || next != int64(len(evs)) {
		t.Fatalf("head %d, next %d, %d events", h, next, len(evs))
	}
	if count[eventlog.UserCreated] != p.Total || count[eventlog.GroupMemberAdded] != len(g.Members) || count[eventlog.GroupCreated] != 1 {
		t.Fatalf("events %v for %d users and %d members", count, p.Total, len(g.Members))
	}
}
