package main

// --baseline: the same request phases against the real server and against
// a "physical limit" server that only checks the bearer token's SHA-256 and
// writes a canned response of the size the real server sent. CPU per
// request comes from /proc/<pid>/stat (utime+stime of the server process),
// which moves far less with the neighbours' load than req/s does.
//
// --peer adds a third server: hack/scimpeer, the in-memory SCIM library
// issue #13 compares us with (no durability), filled with the same users
// and group and measured in the same phases.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Baseline phases, in the order they run.
const (
	bGet    = "GET /Users/{id}"
	bFilter = "GET /Users?filter=userName eq"
	bPage   = "GET /Users?count=100"
	bPatch  = "PATCH /Users/{id} (one replace)"
	bMember = "PATCH /Groups/{id} (add one member)"
	bPost   = "POST /Users"
)

var baselinePhases = []string{bGet, bFilter, bPage, bPatch, bMember, bPost}

// cannedEnv names the file a re-executed scimload serves canned responses
// from; set, the process is the canned server and nothing else.
const cannedEnv = "SCIMLOAD_CANNED_SERVER"

// canned is one phase's recorded response.
type canned struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"`
}

// cannedSpec is what the canned server is started with.
type cannedSpec struct {
	Addr      string             `json:"addr"`
	TokenHash [32]byte           `json:"tokenHash"`
	Responses map[string]*canned `json:"responses"`
}

// cannedPhase tells which phase a request belongs to from its method and
// path, the least a router does.
func cannedPhase(r *http.Request) string {
	p := r.URL.Path
	switch r.Method {
	case http.MethodPost:
		return bPost
	case http.MethodPatch:
		if strings.Contains(p, "/Groups/") {
			return bMember
		}
		return bPatch
	case http.MethodGet:
		switch {
		case strings.Contains(p, "/Users/"):
			return bGet
		case strings.Contains(r.URL.RawQuery, "filter="):
			return bFilter
		}
		return bPage
	}
	return ""
}

// serveCanned runs the canned server until killed.
func serveCanned(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec cannedSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], spec.TokenHash[:]) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.Copy(io.Discard, r.Body)
		c := spec.Responses[cannedPhase(r)]
		if c == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range c.Header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(c.Body)))
		w.WriteHeader(c.Status)
		w.Write(c.Body)
	})
	srv := &http.Server{Addr: spec.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// startCanned re-executes this binary as the canned server on a free port.
func startCanned(ctx context.Context, dir, token string, resp map[string]*canned) (*spawned, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	spec := cannedSpec{Addr: addr, TokenHash: sha256.Sum256([]byte(token)), Responses: resp}
	raw, _ := json.Marshal(spec)
	file := dir + "/canned.json"
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), cannedEnv+"="+file)
	return startChild(ctx, "canned server", cmd, dir, addr, token)
}

// startPeer builds hack/scimpeer (a module of its own, so the product's
// go.mod never carries the peer's library) and starts it on a free port.
func startPeer(ctx context.Context, dir, token string) (*spawned, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "scimpeer")
	build := exec.CommandContext(ctx, "go", "build", "-C", filepath.Join(root, "hack", "scimpeer"), "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build -C hack/scimpeer: %v\n%s", err, out)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	cmd := exec.Command(bin, "--listen-address", addr, "--token-sha256", hex.EncodeToString(sum[:]))
	return startChild(ctx, "scimpeer", cmd, dir, addr, token)
}

// freeLoopbackAddr picks a free port to hand to a child; the window in
// which another process could take it is tiny and shows at start-up.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startChild starts cmd, a server of the baseline listening on addr, and
// waits until its /readyz answers.
func startChild(ctx context.Context, what string, cmd *exec.Cmd, dir, addr, token string) (*spawned, error) {
	s := &spawned{cmd: cmd, dir: dir, done: make(chan struct{}), url: "http://" + addr + "/scim/v2", tok: token}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return s, errors.New(what + " exited at start-up")
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s, errors.New(what + " not ready after 10s")
		}
	}
}

// kill ends a child of the baseline and waits for it.
func (s *spawned) kill() { s.cmd.Process.Kill(); <-s.done }

// cpuTicks is a process's utime+stime in clock ticks (USER_HZ, 100/s on
// Linux).
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}

const ticksPerSecond = 100

// phaseCost is one phase's measurement against one server.
type phaseCost struct {
	requests int
	cpu      time.Duration
	wall     time.Duration
	load     string
}

func (c phaseCost) perRequest() time.Duration {
	if c.requests == 0 {
		return 0
	}
	return c.cpu / time.Duration(c.requests)
}

// baselineFixture is what the measured phases address on the real server.
type baselineFixture struct {
	ids      []string // user ids by index
	group    string   // the group members are added to
	nonMembs int      // index of the first user not in the group
	postRun  int64
	round    int            // later rounds address new users: offset by the requests of the rounds before
	perRound map[string]int // requests of a phase in a round
}

// prepareBaseline creates --users users and one group holding min(10,000,
// users/2) of them, in batches of 100 members; label names the server in
// the setup kinds of the report.
func (l *loader) prepareBaseline(ctx context.Context, label string) (*baselineFixture, error) {
	o := l.o
	f := &baselineFixture{ids: make([]string, o.users), postRun: time.Now().UnixNano() % 1_000_000}
	t0 := time.Now()
	err := l.each(ctx, o.users, func(ctx context.Context, i int) error {
		b, err := l.do(ctx, label+"setup: "+kCreateUser, "POST", "/Users", nil, userBody(l.userName(i), i), 201)
		if err != nil {
			return err
		}
		f.ids[i], err = createdID(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	fmt.Printf("  %ssetup: %d users in %.1f s\n", label, o.users, time.Since(t0).Seconds())
	body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"%s baseline group %d"}`,
		o.prefix, f.postRun)
	b, err := l.do(ctx, label+"setup: "+kCreateGroup, "POST", "/Groups", nil, body, 201)
	if err != nil {
		return nil, err
	}
	if f.group, err = createdID(b); err != nil {
		return nil, err
	}
	f.nonMembs = min(10_000, o.users/2)
	batches := (f.nonMembs + 99) / 100
	err = l.each(ctx, batches, func(ctx context.Context, k int) error {
		var vals []string
		for j := k * 100; j < min((k+1)*100, f.nonMembs); j++ {
			vals = append(vals, `{"value":"`+f.ids[j]+`"}`)
		}
		body := []byte(`{"schemas":["` + patchOpURN + `"],"Operations":[{"op":"add","path":"members","value":[` +
			strings.Join(vals, ",") + `]}]}`)
		_, err := l.do(ctx, label+"setup: "+kAddMembers, "PATCH", "/Groups/"+f.group, nil, body, 204)
		return err
	})
	if err != nil {
		return nil, err
	}
	fmt.Printf("  %ssetup: group with %d members\n", label, f.nonMembs)
	return f, nil
}

// request is one baseline request: its path, query, body and status.
func (f *baselineFixture) request(phase string, i int, l *loader) (method, path, query string, body []byte, want int) {
	n := len(f.ids)
	i += f.round * f.perRound[phase]
	switch phase {
	case bGet:
		return "GET", "/Users/" + f.ids[rand.IntN(n)], "", nil, 200
	case bFilter:
		return "GET", "/Users", "filter=" + url.QueryEscape(eq("userName", l.userName(rand.IntN(n)))), nil, 200
	case bPage:
		return "GET", "/Users", "count=100", nil, 200 // the first page, as issue #13 measured it
	case bPatch:
		return "PATCH", "/Users/" + f.ids[rand.IntN(n)], "",
			[]byte(`{"schemas":["` + patchOpURN + `"],"Operations":[{"op":"replace","path":"displayName","value":"Renamed ` +
				strconv.Itoa(i) + `"}]}`), 200
	case bMember:
		// Users past the group's initial members, each added once.
		u := f.ids[f.nonMembs+i%(n-f.nonMembs)]
		return "PATCH", "/Groups/" + f.group, "",
			[]byte(`{"schemas":["` + patchOpURN + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"` + u + `"}]}]}`), 204
	case bPost:
		name := fmt.Sprintf("%s-b%06d-%07d@contoso.com", l.o.prefix, f.postRun, i)
		return "POST", "/Users", "", userBody(name, i), 201
	}
	panic("unknown phase " + phase)
}

// target is one server the baseline phases run against.
type target struct {
	label string // prefix of its request kinds: "" for ours
	l     *loader
	pid   int
	f     *baselineFixture
	costs map[string][]phaseCost // by phase, one per round
	first map[string]*canned     // each phase's first response
}

func newTarget(label string, l *loader, pid int, f *baselineFixture) *target {
	return &target{label: label, l: l, pid: pid, f: f, costs: map[string][]phaseCost{}, first: map[string]*canned{}}
}

// phaseCPUBudget ends a phase early once the server has spent about this
// much CPU on it: the peer's filter scans every user (about 0.3 s a request
// at 100,000 users), and 5,000 of those would be 25 minutes of CPU on a
// shared machine. 15 s of CPU is 1,500 ticks, far more than the measurement
// needs.
const phaseCPUBudget = 15 * ticksPerSecond

// measure runs up to n requests of phase against t, stopping early once
// the phase has used phaseCPUBudget; it adds their cost to t.costs and
// keeps the first response in t.first (the canned server replays ours).
// The requests go in chunks: a small first one, then each sized from the
// CPU per request so far to what is left of the budget, so an expensive
// phase overshoots it by little.
func (t *target) measure(ctx context.Context, phase string, n int) error {
	before, err := cpuTicks(t.pid)
	if err != nil {
		return err
	}
	conc := t.l.o.concurrency
	t0 := time.Now()
	after, done := before, 0
	for k := min(n, 2*conc); done < n; k = min(k, n-done) {
		if err := t.send(ctx, phase, done, k); err != nil {
			return fmt.Errorf("%s%s: %w", t.label, phase, err)
		}
		done += k
		if after, err = cpuTicks(t.pid); err != nil {
			return err
		}
		used := after - before
		if used >= phaseCPUBudget {
			break
		}
		k = 2 * done // nothing measurable yet
		if used > 0 {
			k = max(conc, int((phaseCPUBudget-used)*int64(done)/used))
		}
	}
	t.costs[phase] = append(t.costs[phase], phaseCost{requests: done, wall: time.Since(t0), load: loadavg(),
		cpu: time.Duration(after-before) * time.Second / ticksPerSecond})
	return nil
}

// send sends requests from..from+n-1 of phase to t, recording the first
// response in t.first when none is there yet.
func (t *target) send(ctx context.Context, phase string, from, n int) error {
	l, f, kind := t.l, t.f, t.label+phase
	var recorded atomic.Bool
	recorded.Store(t.first[phase] != nil)
	return l.each(ctx, n, func(ctx context.Context, i int) error {
		method, path, query, body, want := f.request(phase, from+i, l)
		u := l.base + path
		if query != "" {
			u += "?" + query
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+l.o.token)
		req.Header.Set("Accept", "application/scim+json")
		if body != nil {
			req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
		}
		start := time.Now()
		res, err := l.hc.Do(req)
		if err != nil {
			l.rec.add(kind, start, err)
			return err
		}
		out, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode != want {
			err = &statusError{res.StatusCode, string(out)}
		}
		l.rec.add(kind, start, err)
		if err == nil && recorded.CompareAndSwap(false, true) {
			c := &canned{Status: res.StatusCode, Body: out, Header: map[string]string{}}
			for _, k := range []string{"Content-Type", "ETag", "Location"} {
				if v := res.Header.Get(k); v != "" {
					c.Header[k] = v
				}
			}
			t.first[phase] = c
		}
		return err
	})
}

// median is t's round of phase with the median CPU per request.
func (t *target) median(phase string) phaseCost { return median(t.costs[phase]) }

// byRound is t's CPU per request of phase in each round, in µs, with
// "@requests" where phaseCPUBudget cut the round short of n.
func (t *target) byRound(phase string, n int) string {
	var each []string
	for _, x := range t.costs[phase] {
		e := fmt.Sprintf("%.0f", µs(x))
		if x.requests < n {
			e += fmt.Sprintf("@%d", x.requests)
		}
		each = append(each, e)
	}
	return strings.Join(each, " ")
}

// ratio is a's CPU per request over b's, 0 when b used none.
func ratio(a, b phaseCost) float64 {
	if b.cpu == 0 {
		return 0
	}
	return float64(a.perRequest()) / float64(b.perRequest())
}

func µs(c phaseCost) float64     { return float64(c.perRequest()) / 1e3 }
func perSec(c phaseCost) float64 { return float64(c.requests) / c.wall.Seconds() }

// baseline runs every phase against the spawned server, then against a
// canned server answering with the recorded responses (and, with --peer,
// against the in-memory peer filled the same way), and prints the CPU per
// request of each side by side. Later rounds alternate the servers phase
// by phase, and the median round is reported: the neighbours' load drifts
// less between two phases than between two whole runs.
func (l *loader) baseline(ctx context.Context, srv *spawned) error {
	n, rounds := l.o.baselineRequests, l.o.baselineRounds
	f, err := l.prepareBaseline(ctx, "")
	if err != nil {
		return err
	}
	// Each phase runs n requests a round, except the member phase: it adds
	// each non-member once, so it has only that many for all rounds.
	f.perRound = map[string]int{}
	for _, p := range baselinePhases {
		f.perRound[p] = n
	}
	if m := (len(f.ids) - f.nonMembs) / rounds; m < n {
		f.perRound[bMember] = m
		fmt.Printf("  %s: %d requests a round: it adds each non-member once\n", bMember, m)
	}
	ours := newTarget("", l, l.o.serverPID, f)
	for _, p := range baselinePhases {
		if err := ours.measure(ctx, p, f.perRound[p]); err != nil {
			return err
		}
	}
	cs, err := startCanned(ctx, srv.dir, l.o.token, ours.first)
	if cs != nil {
		defer cs.kill()
	}
	if err != nil {
		return err
	}
	cl := *l
	cl.base = cs.url
	cannedT := newTarget("canned: ", &cl, cs.cmd.Process.Pid, f)
	cannedT.first = ours.first // it answers with ours
	targets := []*target{ours, cannedT}
	var peer *target
	if l.o.peer {
		ps, err := startPeer(ctx, srv.dir, l.o.token)
		if ps != nil {
			defer ps.kill()
		}
		if err != nil {
			return err
		}
		pl := *l
		pl.base = ps.url
		pf, err := pl.prepareBaseline(ctx, "peer: ")
		if err != nil {
			return err
		}
		pf.perRound = f.perRound
		peer = newTarget("peer: ", &pl, ps.cmd.Process.Pid, pf)
		targets = append(targets, peer)
	}
	for _, t := range targets[1:] {
		for _, p := range baselinePhases {
			if err := t.measure(ctx, p, f.perRound[p]); err != nil {
				return err
			}
		}
	}
	for r := 1; r < rounds; r++ {
		for _, p := range baselinePhases {
			for _, t := range targets {
				t.f.round = r
				if err := t.measure(ctx, p, f.perRound[p]); err != nil {
					return err
				}
			}
		}
	}
	fmt.Printf("\nCPU per request: median of %d rounds of %d requests per phase, %d connections (server utime+stime from /proc, 10 ms ticks)\n",
		rounds, n, l.o.concurrency)
	if peer == nil {
		fmt.Printf("%-38s %7s %12s %13s %7s %9s %10s  %s\n", "request", "bytes", "ours µs/req", "canned µs/req", "factor", "ours r/s", "canned r/s", "ours µs/req by round; load average")
		for _, p := range baselinePhases {
			o, c := ours.median(p), cannedT.median(p)
			fmt.Printf("%-38s %7d %12.0f %13.0f %6.1fx %9.0f %10.0f  %s; %s\n", p, len(ours.first[p].Body),
				µs(o), µs(c), ratio(o, c), perSec(o), perSec(c), ours.byRound(p, f.perRound[p]), o.load)
		}
		return nil
	}
	fmt.Println(`"ours vs peer" is ours over the peer's CPU per request: above 1.0x the in-memory peer is cheaper.`)
	fmt.Println(`µs/req by round: "@k" marks a round the 15 s CPU budget ended after k requests.`)
	fmt.Printf("%-38s %7s %7s %6s %6s %6s %9s %8s %7s %7s %7s  %s\n", "request", "bytes", "peer B", "ours", "canned", "peer",
		"vs canned", "vs peer", "ours/s", "cann/s", "peer/s", "µs/req by round: ours | peer; load average")
	for _, p := range baselinePhases {
		o, c, pc := ours.median(p), cannedT.median(p), peer.median(p)
		fmt.Printf("%-38s %7d %7d %6.0f %6.0f %6.0f %8.1fx %7.2fx %7.0f %7.0f %7.0f  %s | %s; %s\n", p,
			len(ours.first[p].Body), len(peer.first[p].Body), µs(o), µs(c), µs(pc), ratio(o, c), ratio(o, pc),
			perSec(o), perSec(c), perSec(pc), ours.byRound(p, f.perRound[p]), peer.byRound(p, f.perRound[p]), o.load)
	}
	// What holding everything in memory costs, beside ours below.
	if m, err := readMem(peer.pid); err == nil {
		fmt.Printf("\npeer pid %d memory: peak RSS (VmHWM) %s, at the end VmRSS %s (anon %s)\n", peer.pid, mb(m.HWM), mb(m.RSS), mb(m.Anon))
	}
	return nil
}

// median is the round with the median CPU per request.
func median(cs []phaseCost) phaseCost {
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b phaseCost) int { return cmp.Compare(a.perRequest(), b.perRequest()) })
	return s[len(s)/2]
}
