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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

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

// spawnConfig says what --spawn starts.
type spawnConfig struct {
	bin, logLevel string
	webhook       bool
	batch         int
	// postgresURL, when set, puts the servers on a fresh schema of that
	// database instead of a SQLite file in the temp dir.
	postgresURL string
	replicas    int
}

// fleet is the servers --spawn started: one on SQLite, or --replicas on
// one PostgreSQL schema; requests go to them in turn (roundRobin).
type fleet struct {
	servers []*spawned
	dir     string
	pgURL   string
	schema  string // dropped by stop unless kept
}

// spawn builds (unless cfg.bin is set) and starts cfg.replicas scimservers,
// each listening on a free 127.0.0.1 port, with one fresh token and one
// fresh database: a SQLite file in a temp dir, or a new schema in
// cfg.postgresURL, whose URL reaches the servers in a file
// (--postgres-url-file), never on a command line where ps shows it.
func spawn(ctx context.Context, cfg spawnConfig) (*fleet, error) {
	dir, err := os.MkdirTemp("", "scimload-")
	if err != nil {
		return nil, err
	}
	f := &fleet{dir: dir, pgURL: cfg.postgresURL}
	bin := cfg.bin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return f, err
		}
		bin = filepath.Join(dir, "scimserver")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/scimserver")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return f, fmt.Errorf("go build ./cmd/scimserver: %v\n%s", err, out)
		}
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	tok := "scimload_" + hex.EncodeToString(raw)
	tf, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{{Name: "scimload", SHA256: auth.Hash(tok),
		Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}}}).Marshal()
	if err := os.WriteFile(filepath.Join(dir, "tokens.json"), tf, 0o600); err != nil {
		return f, err
	}
	// The server logs an access line per request, as in production; it goes
	// to a file so the load generator spends no CPU on it.
	common := []string{"--token-file", filepath.Join(dir, "tokens.json"), "--log-level", cfg.logLevel}
	if cfg.postgresURL == "" {
		common = append(common, "--database", filepath.Join(dir, "scim.db"))
	} else {
		f.schema = "scimload_" + hex.EncodeToString(raw[:6])
		urlFile := filepath.Join(dir, "postgres.url")
		if err := os.WriteFile(urlFile, []byte(cfg.postgresURL), 0o600); err != nil {
			return f, err
		}
		common = append(common, "--postgres-url-file", urlFile, "--postgres-schema", f.schema)
	}
	var rcv *receiver
	if cfg.webhook {
		r, path, err := startReceiver(dir, cfg.batch)
		if err != nil {
			return f, err
		}
		rcv = r
		common = append(common, "--webhooks-file", path)
	}
	for i := range max(cfg.replicas, 1) {
		s, err := startServer(bin, dir, i, common)
		if s != nil {
			s.tok = tok
			f.servers = append(f.servers, s)
		}
		if err != nil {
			return f, err
		}
	}
	// One receiver: with several replicas the delivery lease lets exactly
	// one of them deliver the webhook at a time.
	f.servers[0].receiver = rcv
	return f, nil
}

// startServer starts replica i with args plus a listen address and waits
// until it is ready.
func startServer(bin, dir string, i int, args []string) (*spawned, error) {
	// Pick a free port and hand it over; the window in which another
	// process could take it is tiny and a failure shows at start-up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	name := "server.log"
	if i > 0 {
		name = fmt.Sprintf("server-%d.log", i)
	}
	logf, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	s := &spawned{dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"--listen-address", addr}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
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
	s.terminate()
	if keep {
		fmt.Fprintln(os.Stderr, "kept", s.dir)
		return
	}
	os.RemoveAll(s.dir)
}

func (s *spawned) terminate() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
}

// stop stops every server, then (unless keep) drops the PostgreSQL schema
// and removes the temp dir.
func (f *fleet) stop(keep bool) {
	for _, s := range f.servers {
		s.terminate()
	}
	if keep {
		if f.schema != "" {
			fmt.Fprintln(os.Stderr, "kept schema", f.schema)
		}
		fmt.Fprintln(os.Stderr, "kept", f.dir)
		return
	}
	if f.schema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if conn, err := pgx.Connect(ctx, f.pgURL); err != nil {
			fmt.Fprintln(os.Stderr, "scimload: dropping schema", f.schema+":", err)
		} else {
			if _, err := conn.Exec(ctx, "DROP SCHEMA "+f.schema+" CASCADE"); err != nil {
				fmt.Fprintln(os.Stderr, "scimload: dropping schema", f.schema+":", err)
			}
			conn.Close(ctx)
		}
	}
	os.RemoveAll(f.dir)
}

// roundRobin sends each request to the next server in turn, as a load
// balancer in front of the replicas would.
type roundRobin struct {
	next  http.RoundTripper
	hosts []string
	n     atomic.Uint64
}

func (r *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.hosts) < 2 {
		return r.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.URL.Host = r.hosts[(r.n.Add(1)-1)%uint64(len(r.hosts))]
	return r.next.RoundTrip(req)
}

// cpuMeter reads the CPU time of the servers and of the PostgreSQL server
// (all its processes: backends, WAL writer, checkpointer) on this machine.
type cpuMeter struct {
	pids       []int
	postmaster int // 0: not measured
}

type cpuSample struct {
	servers []time.Duration
	pg      time.Duration
	self    time.Duration // the load generator: on the same cores
}

func (m *cpuMeter) sample() cpuSample {
	var c cpuSample
	for _, pid := range m.pids {
		t, _ := processCPU(pid)
		c.servers = append(c.servers, t)
	}
	if m.postmaster > 0 {
		c.pg = treeCPU(m.postmaster)
	}
	c.self, _ = processCPU(os.Getpid())
	return c
}

// postmasterPID finds the PostgreSQL server at url on this machine: the
// first line of postmaster.pid in its data directory (readable by the
// server's superuser role, as on the test server).
func postmasterPID(ctx context.Context, url string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var dir string
	if err := conn.QueryRow(ctx, `SELECT current_setting('data_directory')`).Scan(&dir); err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		return 0, fmt.Errorf("postmaster.pid: %w", err)
	}
	return pid, nil
}

// treeCPU is the CPU time of the postmaster pid, its exited children
// (cutime, cstime: the postmaster reaps every backend) and its live ones.
func treeCPU(pid int) time.Duration {
	stat := func(p int) []string {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return nil
		}
		s := string(raw)
		return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	}
	ticks := func(f []string, from, to int) int64 {
		var n int64
		for i := from; i <= to && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			n += v
		}
		return n
	}
	// Fields after the command: state is 0, ppid 1, utime 11, stime 12,
	// cutime 13, cstime 14.
	total := ticks(stat(pid), 11, 14)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := stat(p); len(f) > 12 && f[1] == strconv.Itoa(pid) {
			total += ticks(f, 11, 12)
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
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
