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
// error count (it exits 1 on any error) and, for a spawned server (or
// --server-pid), the server's peak resident memory.
//
//	go run ./cmd/scimload --spawn                    # 100k users, 1000 groups x 100 members
//	go run ./cmd/scimload --spawn --mode sync,lookup,create
//	go run ./cmd/scimload --url http://127.0.0.1:8080/scim/v2 --token ... --mode lookup
//	go run ./cmd/scimload --spawn --baseline --concurrency 16   # CPU per request against a canned-response server
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
// /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s). Unlike
// throughput it barely moves with the neighbours' load on a shared machine.
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are plain.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
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
	var srv *spawned
	if o.spawn {
		var err error
		srv, err = spawn(ctx, o.serverBin, o.serverLogLevel, o.webhook, o.webhookBatch)
		if srv != nil {
			defer srv.stop(o.keep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimload: spawn:", err)
			return 1
		}
		o.url, o.token, o.serverPID = srv.url, srv.tok, srv.cmd.Process.Pid
	}
	l, err := newLoader(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimload:", err)
		return 2
	}
	if o.baseline {
		o.modes = []string{"baseline"}
	}
	fmt.Printf("scimload: %s  modes=%s users=%d groups=%d members=%d member-batch=%d updates=%d concurrency=%d\n",
		o.url, strings.Join(o.modes, ","), o.users, o.groups, o.members, o.memberBatch, o.updates, o.concurrency)
	fmt.Printf("load average at start: %s\n", loadavg())
	var mem *memSampler
	if o.serverPID > 0 {
		mem = &memSampler{pid: o.serverPID, phase: "start"}
		mctx, mstop := context.WithCancel(ctx)
		defer mstop()
		go mem.run(mctx)
	}
	l.phase = func(p string) {
		if mem != nil {
			mem.setPhase(p)
		}
	}
	start := time.Now()
	if o.baseline {
		o.modes = nil // the phases below are not run
		if err := l.baseline(ctx, srv); err != nil {
			fmt.Fprintln(os.Stderr, "scimload: baseline:", err)
			l.rec.print(os.Stdout)
			return 1
		}
	}
	for _, m := range o.modes {
		t0 := time.Now()
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
		fmt.Printf("phase %-7s %8.1f s\n", m, time.Since(t0).Seconds())
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimload:", m, err)
			l.rec.print(os.Stdout)
			if mem != nil {
				mem.print()
			}
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
	if o.serverPID > 0 {
		if cpu, err := processCPU(o.serverPID); err == nil {
			n := l.rec.total()
			fmt.Printf("server CPU time %.1f s (%.0f µs per request, %d requests)\n\n", cpu.Seconds(), float64(cpu.Microseconds())/float64(max(n, 1)), n)
		}
	}
	l.rec.print(os.Stdout)
	if mem != nil {
		mem.print()
	}
	if n := l.rec.totalErrors(); n > 0 {
		fmt.Printf("\nFAIL: %d errors\n", n)
		return 1
	}
	fmt.Println("\nerrors: 0")
	return 0
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
