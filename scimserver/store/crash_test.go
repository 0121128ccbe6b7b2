package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// The crash test re-runs this test binary as a loader process (selected by
// crashEnv), kills it with SIGKILL mid-load and checks that every write the
// loader saw acknowledged survived.
const crashEnv = "STORE_CRASH_TEST_DB"

// TestCrashLoader is the child process: it writes as fast as it can from
// several goroutines and prints one line per acknowledged write. It does
// nothing in a normal test run.
func TestCrashLoader(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashDurability")
	}
	s, err := OpenSQLite(path)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var (
		next atomic.Int64 // ids continue where the previous round's loader died
		mu   sync.Mutex   // one write(2) per line, so lines never interleave
	)
	ctx := context.Background()
	var n int64
	if err := s.w.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'User'`).Scan(&n); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	next.Store(n * 10) // past every id used so far
	if err := s.Create(ctx, groupRes("g", "G")); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	ack := func(kind, id string) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, "%s %s END\n", kind, id) // os.Stdout is unbuffered
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				id := uid(int(next.Add(1)))
				if err := s.Create(ctx, userRes(id, id+"@Contoso.com")); err != nil {
					fmt.Println("ERR", err)
					os.Exit(2)
				}
				ack("USER", id)
				if id[len(id)-1] == '0' { // every tenth user joins the group
					if _, err := s.Update(ctx, Group, "g", func(*Resource) (map[string]any, []MemberOp, error) {
						return nil, []MemberOp{ops(MemberAdd, id)}, nil
					}); err != nil {
						fmt.Println("ERR", err)
						os.Exit(2)
					}
					ack("MEMBER", id)
				}
			}
		})
	}
	wg.Wait()
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a loader process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "scim.db")
	for round := range 3 { // later rounds also recover from the previous crash
		users, members := runAndKill(t, path, 1500+round*1000)
		t.Logf("round %d: killed after %d acknowledged creates, %d member adds", round, len(users), len(members))

		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatalf("reopen after kill: %v", err)
		}
		var check string
		if err := s.w.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("integrity_check: %q %v", check, err)
		}
		if err := s.w.QueryRow(`PRAGMA foreign_key_check`).Scan(new(string)); err == nil {
			t.Errorf("foreign_key_check reports violations")
		}
		ctx := context.Background()
		lost := 0
		for _, id := range users {
			if _, err := s.Get(ctx, User, id, false); err != nil {
				lost++
				if lost < 5 {
					t.Errorf("acknowledged user %s: %v", id, err)
				}
			}
		}
		in := map[string]bool{}
		for _, id := range memberIDs(t, s, "g") {
			in[id] = true
		}
		for _, id := range members {
			if !in[id] {
				lost++
				t.Errorf("acknowledged member %s missing", id)
			}
		}
		if lost > 0 {
			t.Fatalf("round %d: %d acknowledged writes lost", round, lost)
		}
		checkLogMatchesData(t, s, round)
		// Remove the group so the next round's loader can create it again.
		if err := s.Delete(ctx, Group, "g"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// runAndKill starts the loader on path, SIGKILLs it once it has acknowledged
// at least n writes, and returns every acknowledged user and member id.
func runAndKill(t *testing.T, path string, n int) (users, members []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoader$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "USER" && f[2] == "END":
			users = append(users, f[1])
		case len(f) == 3 && f[0] == "MEMBER" && f[2] == "END":
			members = append(members, f[1])
		case strings.HasPrefix(line, "ERR"):
			t.Fatalf("loader: %s", line)
		}
		if !killed && len(users) >= n {
			// Kill mid-load; keep reading what was written before death.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("loader exited before being killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("loader did not die of SIGKILL: %v", err)
	}
	return users, members
}

// checkLogMatchesData checks the change log after a kill: no gap, no
// duplicate, exactly one user.created per user row (so one per
// acknowledged create, since those all survived, and none for a write that
// did not commit), and the member_added events of the current group "g"
// are exactly its members.
func checkLogMatchesData(t *testing.T, s *SQLite, round int) {
	t.Helper()
	ctx := context.Background()
	evs, next, err := s.ReadEvents(ctx, 0, 10_000_000)
	if err != nil {
		t.Fatalf("round %d: read the log: %v", round, err)
	}
	if h, err := s.EventHead(ctx); err != nil || h != next || len(evs) == 0 || evs[len(evs)-1].Seq != h {
		t.Fatalf("round %d: head %d (%v), last cursor %d", round, h, err, next)
	}
	created := map[string]int{}
	ids := map[string]bool{}
	var members map[string]int
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("round %d: event %d has seq %d: a gap", round, i, e.Seq)
		}
		if ids[e.ID] {
			t.Fatalf("round %d: event id %s twice", round, e.ID)
		}
		ids[e.ID] = true
		switch {
		case e.Type == eventlog.UserCreated:
			created[e.Resource.ID]++
		case e.Type == eventlog.GroupCreated && e.Resource.ID == "g":
			members = map[string]int{} // this round's group
		case e.Type == eventlog.GroupMemberAdded && e.Resource.ID == "g":
			members[e.Member.Value]++
		}
	}
	var rows int
	if err := s.w.QueryRow(`SELECT COUNT(*) FROM resources WHERE kind = 'User'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if len(created) != rows {
		t.Fatalf("round %d: %d users created in the log, %d in the table", round, len(created), rows)
	}
	for id, n := range created {
		if n != 1 {
			t.Fatalf("round %d: user %s created %d times in the log", round, id, n)
		}
		if _, err := s.Get(ctx, User, id, false); err != nil {
			t.Fatalf("round %d: logged user %s: %v", round, id, err)
		}
	}
	in := memberIDs(t, s, "g")
	if len(in) != len(members) {
		t.Fatalf("round %d: %d member_added events, %d members", round, len(members), len(in))
	}
	for _, id := range in {
		if members[id] != 1 {
			t.Fatalf("round %d: member %s added %d times in the log", round, id, members[id])
		}
	}
	t.Logf("round %d: log of %d events matches the data (%d users, %d members)", round, len(evs), rows, len(in))
}
