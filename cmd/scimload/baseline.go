package main

// --baseline: the same request phases against the real server and against
// a "physical limit" server that only checks the bearer token's SHA-256 and
// writes a canned response of the size the real server sent. CPU per
// request comes from /proc/<pid>/stat (utime+stime of the server process),
// which moves far less with the neighbours' load than req/s does.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
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
	s := &spawned{dir: dir, done: make(chan struct{}), url: "http://" + addr + "/scim/v2", tok: token}
	s.cmd = exec.Command(self)
	s.cmd.Env = append(os.Environ(), cannedEnv+"="+file)
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
			return s, errors.New("canned server exited at start-up")
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return s, errors.New("canned server not ready after 10s")
		}
	}
}

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
	offset   int // added to the request index of later rounds
}

// prepareBaseline creates --users users and one group holding min(10,000,
// users/2) of them, in batches of 100 members.
func (l *loader) prepareBaseline(ctx context.Context) (*baselineFixture, error) {
	o := l.o
	f := &baselineFixture{ids: make([]string, o.users), postRun: time.Now().UnixNano() % 1_000_000}
	t0 := time.Now()
	err := l.each(ctx, o.users, func(ctx context.Context, i int) error {
		b, err := l.do(ctx, "setup: "+kCreateUser, "POST", "/Users", nil, userBody(l.userName(i), i), 201)
		if err != nil {
			return err
		}
		f.ids[i], err = createdID(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	fmt.Printf("  setup: %d users in %.1f s\n", o.users, time.Since(t0).Seconds())
	body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"%s baseline group %d"}`,
		o.prefix, f.postRun)
	b, err := l.do(ctx, "setup: "+kCreateGroup, "POST", "/Groups", nil, body, 201)
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
		_, err := l.do(ctx, "setup: "+kAddMembers, "PATCH", "/Groups/"+f.group, nil, body, 204)
		return err
	})
	if err != nil {
		return nil, err
	}
	fmt.Printf("  setup: group with %d members\n", f.nonMembs)
	return f, nil
}

// request is one baseline request: its path, query, body and status.
func (f *baselineFixture) request(phase string, i int, l *loader) (method, path, query string, body []byte, want int) {
	n := len(f.ids)
	i += f.offset
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

// measure runs n requests of phase against the server of pid and returns
// their cost; record, when not nil, receives one response to replay.
func (l *loader) measure(ctx context.Context, pid int, phase string, n int, f *baselineFixture, record func(*canned)) (phaseCost, error) {
	kind := phase
	if record == nil {
		kind = "canned: " + phase
	}
	before, err := cpuTicks(pid)
	if err != nil {
		return phaseCost{}, err
	}
	var recorded atomic.Bool
	t0 := time.Now()
	err = l.each(ctx, n, func(ctx context.Context, i int) error {
		method, path, query, body, want := f.request(phase, i, l)
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
		if err == nil && record != nil && recorded.CompareAndSwap(false, true) {
			c := &canned{Status: res.StatusCode, Body: out, Header: map[string]string{}}
			for _, k := range []string{"Content-Type", "ETag", "Location"} {
				if v := res.Header.Get(k); v != "" {
					c.Header[k] = v
				}
			}
			record(c)
		}
		return err
	})
	wall := time.Since(t0)
	after, err2 := cpuTicks(pid)
	if err := errors.Join(err, err2); err != nil {
		return phaseCost{}, err
	}
	return phaseCost{requests: n, wall: wall, load: loadavg(),
		cpu: time.Duration(after-before) * time.Second / ticksPerSecond}, nil
}

// baseline runs every phase against the spawned server, then against a
// canned server answering with the recorded responses, and prints the
// CPU per request of each side by side. Later rounds alternate the two
// phase by phase, and the median round is reported: the neighbours' load
// drifts less between two phases than between two whole runs.
func (l *loader) baseline(ctx context.Context, srv *spawned) error {
	n, rounds := l.o.baselineRequests, l.o.baselineRounds
	f, err := l.prepareBaseline(ctx)
	if err != nil {
		return err
	}
	if n*rounds > len(f.ids)-f.nonMembs {
		n = (len(f.ids) - f.nonMembs) / rounds
		fmt.Printf("  --baseline-requests lowered to %d: the member phase adds each non-member once\n", n)
	}
	ours := map[string][]phaseCost{}
	theirs := map[string][]phaseCost{}
	resp := map[string]*canned{}
	for _, p := range baselinePhases {
		c, err := l.measure(ctx, l.o.serverPID, p, n, f, func(c *canned) { resp[p] = c })
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		ours[p] = append(ours[p], c)
	}
	cs, err := startCanned(ctx, srv.dir, l.o.token, resp)
	if cs != nil {
		defer func() { cs.cmd.Process.Kill(); <-cs.done }()
	}
	if err != nil {
		return err
	}
	cl := *l
	cl.base = cs.url
	for _, p := range baselinePhases {
		c, err := cl.measure(ctx, cs.cmd.Process.Pid, p, n, f, nil)
		if err != nil {
			return fmt.Errorf("canned %s: %w", p, err)
		}
		theirs[p] = append(theirs[p], c)
	}
	for r := 1; r < rounds; r++ {
		f.offset = r * n // new users to add and to create
		for _, p := range baselinePhases {
			c, err := l.measure(ctx, l.o.serverPID, p, n, f, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			ours[p] = append(ours[p], c)
			if c, err = cl.measure(ctx, cs.cmd.Process.Pid, p, n, f, nil); err != nil {
				return fmt.Errorf("canned %s: %w", p, err)
			}
			theirs[p] = append(theirs[p], c)
		}
	}
	fmt.Printf("\nCPU per request: median of %d rounds of %d requests per phase, %d connections (server utime+stime from /proc, 10 ms ticks)\n",
		rounds, n, l.o.concurrency)
	fmt.Printf("%-38s %7s %12s %13s %7s %9s %10s  %s\n", "request", "bytes", "ours µs/req", "canned µs/req", "factor", "ours r/s", "canned r/s", "ours µs/req by round; load average")
	for _, p := range baselinePhases {
		o, c := median(ours[p]), median(theirs[p])
		factor := 0.0
		if c.cpu > 0 {
			factor = float64(o.perRequest()) / float64(c.perRequest())
		}
		var each []string
		for _, x := range ours[p] {
			each = append(each, fmt.Sprintf("%.0f", float64(x.perRequest())/1e3))
		}
		fmt.Printf("%-38s %7d %12.0f %13.0f %6.1fx %9.0f %10.0f  %s; %s\n", p, len(resp[p].Body),
			float64(o.perRequest())/1e3, float64(c.perRequest())/1e3, factor,
			float64(o.requests)/o.wall.Seconds(), float64(c.requests)/c.wall.Seconds(), strings.Join(each, " "), o.load)
	}
	return nil
}

// median is the round with the median CPU per request.
func median(cs []phaseCost) phaseCost {
	s := slices.Clone(cs)
	slices.SortFunc(s, func(a, b phaseCost) int { return cmp.Compare(a.perRequest(), b.perRequest()) })
	return s[len(s)/2]
}
