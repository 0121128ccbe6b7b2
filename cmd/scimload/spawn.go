package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// spawned is a scimserver started by --spawn on a temporary database.
type spawned struct {
	cmd  *exec.Cmd
	dir  string
	url  string
	tok  string
	root string // http://addr, for /v1 endpoints
	done chan struct{}
	// receiver consumes the webhook (--webhook), nil without.
	receiver *receiver
}

// moduleRoot finds go.mod upwards from the working directory, to build
// ./cmd/scimserver of this checkout.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory; pass --server-bin")
		}
		dir = parent
	}
}

// spawn builds (unless bin is set) and starts a scimserver listening on a
// free 127.0.0.1 port, with a fresh token and database in a temp dir.
func spawn(ctx context.Context, bin string, logLevel string, webhook bool, batch int) (*spawned, error) {
	dir, err := os.MkdirTemp("", "scimload-")
	if err != nil {
		return nil, err
	}
	s := &spawned{dir: dir, done: make(chan struct{})}
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return s, err
		}
		bin = filepath.Join(dir, "scimserver")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/scimserver")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return s, fmt.Errorf("go build ./cmd/scimserver: %v\n%s", err, out)
		}
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	s.tok = "scimload_" + hex.EncodeToString(raw)
	tf, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{{Name: "scimload", SHA256: auth.Hash(s.tok),
		Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}}}).Marshal()
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), tf, 0o600); err != nil {
		return s, err
	}
	// Pick a free port and hand it over; the window in which another
	// process could take it is tiny and a failure shows at start-up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return s, err
	}
	// The server logs an access line per request, as in production; it goes
	// to a file so the load generator spends no CPU on it.
	args := []string{"--listen-address", addr, "--database", filepath.Join(dir, "scim.db"),
		"--token-file", filepath.Join(dir, "tokens.json"), "--log-level", logLevel}
	if webhook {
		r, path, err := startReceiver(dir, batch)
		if err != nil {
			logf.Close()
			return s, err
		}
		s.receiver = r
		args = append(args, "--webhooks-file", path)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return s, err
	}
	go func() { s.cmd.Wait(); logf.Close(); close(s.done) }()
	s.url = "http://" + addr + "/scim/v2"
	s.root = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return s, fmt.Errorf("scimserver exited at start-up, see %s", logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("scimserver not ready after 30s")
		}
	}
}

// stop sends SIGTERM, waits up to 10 s, then SIGKILL, and removes the temp
// dir unless keep is set.
func (s *spawned) stop(keep bool) {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	if keep {
		fmt.Fprintln(os.Stderr, "kept", s.dir)
		return
	}
	os.RemoveAll(s.dir)
}

// procMem is a sample of a process's memory from /proc/<pid>/status, in kB.
type procMem struct {
	HWM, RSS, Anon, File, Shmem int64
	Pss                         int64 // proportional set size: a page mapped N times counts 1/N
	DBMaps                      int   // mappings of the database file
}

// readMem reads VmHWM (peak resident set), VmRSS and its split into
// anonymous memory (Go heap, SQLite page caches), file-backed pages (the
// database mapped with mmap_size) and shared memory (the WAL index).
func readMem(pid int) (procMem, error) {
	var m procMem
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			m.HWM = v
		case "VmRSS:":
			m.RSS = v
		case "RssAnon:":
			m.Anon = v
		case "RssFile:":
			m.File = v
		case "RssShmem:":
			m.Shmem = v
		}
	}
	// SQLite maps the database once per connection (mmap_size), and RssFile
	// counts a page once per mapping; Pss counts it once in all.
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				m.Pss, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasSuffix(line, ".db") {
				m.DBMaps++
			}
		}
	}
	return m, nil
}

// memSampler polls a process's memory to find when the peak happens and
// what it is made of; VmHWM alone says neither.
type memSampler struct {
	mu        sync.Mutex
	pid       int
	phase     string
	peak      procMem // the sample with the highest VmRSS
	peakPhase string
	peakAnon  int64
	anonPhase string
	byPhase   map[string]int64 // highest sampled VmRSS of each phase
	phases    []string         // in the order they ran
}

func (s *memSampler) setPhase(p string) { s.mu.Lock(); s.phase = p; s.mu.Unlock() }

func (s *memSampler) sample() {
	m, err := readMem(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.RSS > s.peak.RSS {
		s.peak, s.peakPhase = m, s.phase
	}
	if m.Anon > s.peakAnon {
		s.peakAnon, s.anonPhase = m.Anon, s.phase
	}
	if s.byPhase == nil {
		s.byPhase = map[string]int64{}
	}
	if _, seen := s.byPhase[s.phase]; !seen {
		s.phases = append(s.phases, s.phase)
	}
	s.byPhase[s.phase] = max(s.byPhase[s.phase], m.RSS)
}

func (s *memSampler) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

func (s *memSampler) print() {
	s.sample()
	now, err := readMem(s.pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload: reading server memory:", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("\nserver pid %d memory (sampled every 100 ms):\n", s.pid)
	fmt.Printf("  peak RSS (VmHWM)        %s\n", mb(now.HWM))
	fmt.Printf("  highest sampled VmRSS   %s during %s = anon %s + file %s + shmem %s; Pss %s; %d mappings of the .db file\n",
		mb(s.peak.RSS), s.peakPhase, mb(s.peak.Anon), mb(s.peak.File), mb(s.peak.Shmem), mb(s.peak.Pss), s.peak.DBMaps)
	fmt.Printf("  highest sampled RssAnon %s during %s\n", mb(s.peakAnon), s.anonPhase)
	fmt.Printf("  highest sampled VmRSS by phase:")
	for _, p := range s.phases {
		fmt.Printf(" %s %s;", p, mb(s.byPhase[p]))
	}
	fmt.Println()
	fmt.Printf("  at the end: VmRSS %s = anon %s + file %s + shmem %s; Pss %s; %d mappings of the .db file\n",
		mb(now.RSS), mb(now.Anon), mb(now.File), mb(now.Shmem), mb(now.Pss), now.DBMaps)
}
