// Command scimload is a load generator for scimserver shaped like Microsoft
// Entra ID's provisioning traffic (see ../shared/entra-scim-client.md §2.2–2.11):
//
//   - sync: a full initial cycle. Test Connection probes (filter by a random
//     GUID on /Users and /Groups), then per user a filter userName eq and,
//     on an empty ListResponse, POST /Users; then per group a filter
//     displayName eq with excludedAttributes=members, POST /Groups and PATCH
//     Add members in batches; then an incremental pass of user PATCHes in
//     the legacy shapes (capitalised ops, "False" strings, manager by URN
//     path) and the aadOptscim062020 shape (pathless replace, dotted keys).
//   - lookup: filter userName eq on existing users for --duration.
//   - create: POST /Users of new users for --duration.
//
// It prints throughput and p50/p90/p99/max latency per request kind, the
// error count (it exits 1 on any error) and, for spawned servers (or
// --server-pid), each server's peak resident memory and, per phase, the
// CPU per request of each server process, of PostgreSQL (--postgres) and
// of the load generator itself.
//
//	go run ./cmd/scimload --spawn                    # 100k users, 1000 groups x 100 members
//	go run ./cmd/scimload --spawn --mode sync,lookup,create
//	go run ./cmd/scimload --url http://127.0.0.1:8080/scim/v2 --token ... --mode lookup
//	go run ./cmd/scimload --spawn --baseline --concurrency 16   # CPU per request against a canned-response server
//	go run ./cmd/scimload --spawn --postgres "$SCIM_TEST_POSTGRES_URL" --replicas 2   # two servers on a fresh PostgreSQL schema
//	go run ./cmd/scimload --spawn --baseline --peer --users 2000 # ... and against the in-memory peer (hack/scimpeer)
//
// It only talks to loopback addresses and stops by itself (--timeout).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

type options struct {
	url, token, host     string
	users, groups        int
	members, memberBatch int
	updates              int
	concurrency          int
	scanConcurrency      int
	modes                []string
	duration, timeout    time.Duration
	spawn, keep          bool
	serverBin            string
	serverPID            int
	prefix               string
	serverLogLevel       string
	webhook              bool
	webhookBatch         int
	baseline             bool
	baselineRequests     int
	baselineRounds       int
	postgresURL          string
	replicas             int
	peer                 bool
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("scimload", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "", "tenant base URL, e.g. http://127.0.0.1:8080/scim/v2 (loopback only; a query such as ?aadOptscim062020 is kept on every request)")
	fs.StringVar(&o.token, "token", os.Getenv("SCIMLOAD_TOKEN"), "bearer token (env SCIMLOAD_TOKEN)")
	fs.StringVar(&o.host, "host", "", "Host header to send (e.g. for a server behind a name-based router)")
	fs.IntVar(&o.users, "users", 100_000, "users to provision (sync) or to look up among (lookup)")
	fs.IntVar(&o.groups, "groups", 1000, "groups to provision (sync)")
	fs.IntVar(&o.members, "members", 100, "members per group (sync)")
	fs.IntVar(&o.memberBatch, "member-batch", 10, "member ids per PATCH Add op, as Entra batches them")
	fs.IntVar(&o.updates, "updates", -1, "users PATCHed in the incremental pass (default users/10)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent requests")
	mode := fs.String("mode", "sync", "comma-separated phases to run in order: sync, lookup, create, scan")
	fs.IntVar(&o.scanConcurrency, "scan-concurrency", 4, "workers sending full scans in the scan phase (the others look users up)")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "length of the lookup, create and scan phases")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "hard limit of the whole run")
	fs.BoolVar(&o.spawn, "spawn", false, "build and start a scimserver on a temp database on 127.0.0.1 and load it")
	fs.StringVar(&o.serverBin, "server-bin", "", "with --spawn: scimserver binary to run (default: go build ./cmd/scimserver)")
	fs.StringVar(&o.serverLogLevel, "server-log-level", "info", "with --spawn: the server's --log-level (info logs every request, as in production)")
	fs.BoolVar(&o.keep, "keep", false, "with --spawn: keep the temp dir (database, server log)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "without --spawn: pid of the server, to report its peak RSS")
	fs.BoolVar(&o.webhook, "webhook", false, "with --spawn: deliver the change log to a webhook receiver in this process (verifying signatures) and report the lag when the load ends and how long until it is 0")
	fs.IntVar(&o.webhookBatch, "webhook-batch", 1, "with --webhook: the webhook's maxBatch")
	fs.StringVar(&o.prefix, "prefix", "load", "userName / displayName prefix, to run several syncs on one tenant")
	fs.BoolVar(&o.baseline, "baseline", false, "with --spawn: instead of --mode, measure CPU per request of six request kinds against the server and against a canned-response server (token SHA-256 check, recorded response of the same size)")
	fs.IntVar(&o.baselineRequests, "baseline-requests", 5000, "with --baseline: requests per phase, server and round")
	fs.IntVar(&o.baselineRounds, "baseline-rounds", 3, "with --baseline: rounds (the median is reported)")
	fs.StringVar(&o.postgresURL, "postgres", os.Getenv("SCIMLOAD_POSTGRES_URL"), "with --spawn: run the server(s) on a fresh schema of this PostgreSQL database (env SCIMLOAD_POSTGRES_URL; handed to them in a file, dropped at the end unless --keep) instead of SQLite")
	fs.IntVar(&o.replicas, "replicas", 1, "with --spawn --postgres: server processes on the one schema; requests go to them in turn")
	fs.BoolVar(&o.peer, "peer", false, "with --baseline: also build hack/scimpeer (the in-memory elimity-com/scim peer of issue #13), fill it with the same users and group and measure it in the same phases")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, m := range strings.Split(*mode, ",") {
		switch m = strings.TrimSpace(m); m {
		case "sync", "lookup", "create", "scan":
			o.modes = append(o.modes, m)
		default:
			return nil, fmt.Errorf("--mode: unknown phase %q", m)
		}
	}
	if o.updates < 0 {
		o.updates = o.users / 10
	}
	if o.concurrency < 1 || o.users < 1 || o.members < 0 || o.groups < 0 || o.memberBatch < 1 {
		return nil, errors.New("--concurrency, --users and --member-batch must be positive")
	}
	if o.scanConcurrency < 0 || o.scanConcurrency > o.concurrency {
		return nil, errors.New("--scan-concurrency must be between 0 and --concurrency")
	}
	if o.webhook && !o.spawn {
		return nil, errors.New("--webhook needs --spawn")
	}
	if o.replicas < 1 || (o.replicas > 1 && o.postgresURL == "") {
		return nil, errors.New("--replicas must be positive, and above 1 only with --postgres (SQLite serves one process)")
	}
	if o.postgresURL != "" && !o.spawn {
		return nil, errors.New("--postgres needs --spawn")
	}
	if o.postgresURL != "" {
		if err := loopbackPostgres(o.postgresURL); err != nil {
			return nil, err
		}
	}
	if o.baseline && o.replicas > 1 {
		return nil, errors.New("--baseline measures one server: no --replicas")
	}
	if o.baseline && (!o.spawn || o.baselineRequests < 1 || o.baselineRounds < 1) {
		return nil, errors.New("--baseline needs --spawn, a positive --baseline-requests and --baseline-rounds")
	}
	if o.peer && !o.baseline {
		return nil, errors.New("--peer needs --baseline")
	}
	if o.spawn == (o.url != "") {
		return nil, errors.New("pass exactly one of --spawn and --url")
	}
	if !o.spawn {
		if o.token == "" {
			return nil, errors.New("--token is required with --url")
		}
		if err := loopbackOnly(o.url); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// loopbackOnly refuses targets other than this machine: a load generator
// pointed at a shared or production server by mistake would flood it.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want http(s)://127.0.0.1:port/base/path", raw)
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--url %q: only loopback targets are allowed", raw)
}

// loopbackPostgres refuses a database other than this machine's, for the
// same reason, and because PostgreSQL's CPU is read from /proc.
func loopbackPostgres(raw string) error {
	cfg, err := pgconn.ParseConfig(raw)
	if err != nil {
		return errors.New("--postgres: the URL does not parse (want postgres://user@127.0.0.1:port/db)")
	}
	h := cfg.Host
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return nil // a Unix socket, or loopback
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--postgres: host %q: only a database on this machine (loopback or Unix socket) is allowed", h)
}

func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// processCPU is the CPU time (user + system) process pid has used, from
// /proc/<pid>/stat (cpuTicks, clock ticks of 1/100 s). Unlike throughput
// it barely moves with the neighbours' load on a shared machine.
func processCPU(pid int) (time.Duration, error) {
	ticks, err := cpuTicks(pid)
	return time.Duration(ticks) * 10 * time.Millisecond, err
}

func main() {
	if file := os.Getenv(cannedEnv); file != "" {
		fmt.Fprintln(os.Stderr, "scimload canned server:", serveCanned(file))
		os.Exit(1)
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancelT := context.WithTimeout(ctx, o.timeout)
	code := run(ctx, o)
	cancelT()
	cancel()
	os.Exit(code)
}

func run(ctx context.Context, o *options) int {
	var (
		fl   *fleet
		srv  *spawned
		pids []int
	)
	if o.spawn {
		var err error
		fl, err = spawn(ctx, spawnConfig{bin: o.serverBin, logLevel: o.serverLogLevel, webhook: o.webhook,
			batch: o.webhookBatch, postgresURL: o.postgresURL, replicas: o.replicas})
		if fl != nil {
			defer fl.stop(o.keep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimload: spawn:", err)
			return 1
		}
		srv = fl.servers[0]
		// The first server's pid is what --baseline measures (it allows
		// one server) and what --server-pid would have named.
		o.url, o.token, o.serverPID = srv.url, srv.tok, srv.cmd.Process.Pid
		for _, s := range fl.servers {
			pids = append(pids, s.cmd.Process.Pid)
		}
	} else if o.serverPID > 0 {
		pids = []int{o.serverPID}
	}
	l, err := newLoader(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		return 2
	}
	if fl != nil && len(fl.servers) > 1 {
		rr := &roundRobin{next: l.hc.Transport}
		for _, s := range fl.servers {
			rr.hosts = append(rr.hosts, strings.TrimPrefix(s.root, "http://"))
		}
		l.hc.Transport = rr
	}
	meter := &cpuMeter{pids: pids}
	if o.postgresURL != "" {
		if pid, err := postmasterPID(ctx, o.postgresURL); err != nil {
			fmt.Fprintln(os.Stderr, "scimload: PostgreSQL's CPU is not measured:", err)
		} else {
			meter.postmaster = pid
		}
	}
	if o.baseline {
		o.modes = []string{"baseline"}
	}
	store := "sqlite"
	if o.postgresURL != "" {
		store = fmt.Sprintf("postgres schema %s", fl.schema)
	}
	fmt.Printf("scimload: %s  modes=%s users=%d groups=%d members=%d member-batch=%d updates=%d concurrency=%d\n",
		o.url, strings.Join(o.modes, ","), o.users, o.groups, o.members, o.memberBatch, o.updates, o.concurrency)
	if fl != nil {
		fmt.Printf("store: %s, %d server process(es)\n", store, len(fl.servers))
	}
	fmt.Printf("load average at start: %s\n", loadavg())
	var mems []*memSampler
	for _, pid := range pids {
		mem := &memSampler{pid: pid, phase: "start"}
		mctx, mstop := context.WithCancel(ctx)
		defer mstop()
		go mem.run(mctx)
		mems = append(mems, mem)
	}
	l.phase = func(p string) {
		for _, mem := range mems {
			mem.setPhase(p)
		}
	}
	printMem := func() {
		for _, mem := range mems {
			mem.print()
		}
	}
	start := time.Now()
	startCPU := meter.sample()
	if o.baseline {
		o.modes = nil // the phases below are not run
		if err := l.baseline(ctx, srv); err != nil {
			fmt.Fprintln(os.Stderr, "scimload: baseline:", err)
			l.rec.print(os.Stdout)
			return 1
		}
	}
	for _, m := range o.modes {
		t0, n0, c0 := time.Now(), l.rec.total(), meter.sample()
		var err error
		switch m {
		case "sync":
			err = l.sync(ctx)
		case "lookup":
			err = l.lookup(ctx)
		case "create":
			err = l.create(ctx)
		case "scan":
			err = l.scan(ctx)
		}
		d := time.Since(t0)
		fmt.Printf("phase %-7s %8.1f s, %d requests (%.0f/s), load average %s\n", m, d.Seconds(),
			l.rec.total()-n0, float64(l.rec.total()-n0)/d.Seconds(), loadavg())
		printCPU("  ", c0, meter.sample(), l.rec.total()-n0, meter.postmaster > 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimload:", m, err)
			l.rec.print(os.Stdout)
			printMem()
			return 1
		}
	}
	if srv != nil && srv.receiver != nil {
		if err := srv.receiver.drain(ctx, l.hc, srv.root, srv.tok, start); err != nil {
			fmt.Fprintln(os.Stderr, "scimload: webhook:", err)
			return 1
		}
	}
	fmt.Printf("\nwall time %.1f s, load average at end: %s\n\n", time.Since(start).Seconds(), loadavg())
	if len(pids) > 0 {
		fmt.Println("whole run:")
		printCPU("  ", startCPU, meter.sample(), l.rec.total(), meter.postmaster > 0)
		fmt.Println()
	}
	l.rec.print(os.Stdout)
	printMem()
	if n := l.rec.totalErrors(); n > 0 {
		fmt.Printf("\nFAIL: %d errors\n", n)
		return 1
	}
	fmt.Println("\nerrors: 0")
	return 0
}

// printCPU reports the CPU each server process and PostgreSQL used between
// two samples, per request: a server's per its share of the n requests
// (round robin hands each 1/len), the total and PostgreSQL's per all n.
func printCPU(indent string, a, b cpuSample, n int, pg bool) {
	if len(a.servers) == 0 {
		return
	}
	per := func(d time.Duration, reqs float64) float64 { return float64(d.Microseconds()) / max(reqs, 1) }
	var sum time.Duration
	for i := range a.servers {
		d := b.servers[i] - a.servers[i]
		sum += d
		fmt.Printf("%sserver %d CPU %.1f s (%.0f µs per request it served)\n", indent, i, d.Seconds(),
			per(d, float64(n)/float64(len(a.servers))))
	}
	if len(a.servers) > 1 {
		fmt.Printf("%sservers' CPU %.1f s (%.0f µs per request)\n", indent, sum.Seconds(), per(sum, float64(n)))
	}
	if pg {
		d := b.pg - a.pg
		fmt.Printf("%sPostgreSQL CPU %.1f s (%.0f µs per request), servers + PostgreSQL %.0f µs per request\n",
			indent, d.Seconds(), per(d, float64(n)), per(sum+d, float64(n)))
		sum += d
	}
	self := b.self - a.self
	fmt.Printf("%sload generator CPU %.1f s (%.0f µs per request); all on this machine %.0f µs per request\n",
		indent, self.Seconds(), per(self, float64(n)), per(sum+self, float64(n)))
}

// newLoader builds the HTTP client: keep-alive with one idle connection per
// worker, so every request reuses a connection as Entra's client does.
func newLoader(o *options) (*loader, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	extra := u.RawQuery
	u.RawQuery = ""
	tr := &http.Transport{
		MaxIdleConns:        o.concurrency * 2,
		MaxIdleConnsPerHost: o.concurrency * 2,
		MaxConnsPerHost:     o.concurrency * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &loader{
		o:     o,
		hc:    &http.Client{Transport: tr, Timeout: 60 * time.Second},
		base:  strings.TrimSuffix(u.String(), "/"),
		extra: extra,
		rec:   newRecorder(),
		phase: func(string) {},
	}, nil
}
