package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Tokens every test server accepts.
const (
	writeToken   = "scim_test_write"
	readToken    = "scim_test_read"
	expiredToken = "scim_test_expired"
	basePath     = "/scim/v2"
)

// testClock is an injectable clock that only moves when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects logs written concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	t       testing.TB
	ts      *httptest.Server
	srv     *Server
	store   *store.SQLite
	dbPath  string // the SQLite file store has open
	clock   *testClock
	logs    *syncBuffer
	keyring *auth.Keyring
	token   string
	conns   *connLog
}

// connLog records the server side of every connection (state changes),
// so that a transport error in a test says whether, when and in which
// state the server dropped the connection.
type connLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

func (l *connLog) record(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("+%v %s %s", time.Since(l.start).Round(time.Microsecond), c.RemoteAddr(), st))
}

func (l *connLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type envOption func(*Options)

func withConfig(c *config.Tenant) envOption { return func(o *Options) { o.Config = c } }

func testKeyring(t testing.TB, now time.Time) *auth.Keyring {
	past := now.Add(-time.Hour)
	expired := auth.TokenEntry{Name: "old", SHA256: auth.Hash(expiredToken), NotAfter: &past, Scopes: []string{auth.ScopeRead, auth.ScopeWrite}}
	k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
		{Name: "entra", Revision: 1, SHA256: auth.Hash(writeToken), Scopes: []string{auth.ScopeRead, auth.ScopeWrite}},
		{Name: "auditor", SHA256: auth.Hash(readToken), Scopes: []string{auth.ScopeRead}},
		expired,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newEnv starts a server over real HTTP on a fresh SQLite file.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	clock := &testClock{now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	dbPath := filepath.Join(t.TempDir(), "scim.db")
	st, err := store.OpenSQLite(dbPath, store.WithClock(func() time.Time {
		// Every write a millisecond later, so lastModified moves.
		clock.Advance(time.Millisecond)
		return clock.Now()
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	o := Options{
		Config:  config.Default(),
		Store:   st,
		Keyring: testKeyring(t, clock.Now()),
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:   clock.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	conns := &connLog{start: time.Now()}
	ts.Config.ConnState = conns.record
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{t: t, ts: ts, srv: srv, store: st, dbPath: dbPath, clock: clock, logs: logs, keyring: o.Keyring, token: writeToken, conns: conns}
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

// req is one request; body may be nil, a string (sent verbatim) or any
// value (JSON-encoded).
type req struct {
	method, path string
	body         any
	header       map[string]string
	token        *string // nil: the env's token; "" sends none
}

func (e *env) do(r req) *resp {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	path := r.path
	if !strings.HasPrefix(path, "/healthz") && !strings.HasPrefix(path, "/readyz") && !strings.HasPrefix(path, "/metrics") && !strings.HasPrefix(path, "!") {
		path = basePath + path
	}
	path = strings.TrimPrefix(path, "!")
	hr, err := http.NewRequest(r.method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	tok := e.token
	if r.token != nil {
		tok = *r.token
	}
	if tok != "" {
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range r.header {
		if v == "<none>" && strings.EqualFold(k, "User-Agent") {
			hr.Header["User-Agent"] = []string{""} // net/http then sends no User-Agent at all
		} else if v == "<none>" {
			hr.Header.Del(k)
		} else if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	// On a transport error, say which connection the client used (fresh or
	// reused after idling) and what the server did with its connections.
	var got httptrace.GotConnInfo
	hr = hr.WithContext(httptrace.WithClientTrace(hr.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { got = i },
	}))
	res, err := e.ts.Client().Do(hr)
	if err != nil {
		local := "none"
		if got.Conn != nil {
			local = got.Conn.LocalAddr().String()
		}
		e.t.Fatalf("%v\nclient connection %s: reused=%v wasIdle=%v idleTime=%v\nserver connections:\n%s",
			err, local, got.Reused, got.WasIdle, got.IdleTime, e.conns)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%v\nserver connections:\n%s", err, e.conns)
	}
	out := &resp{status: res.StatusCode, header: res.Header, raw: raw}
	if ct := res.Header.Get("Content-Type"); len(raw) > 0 && (strings.HasPrefix(ct, ContentType) || strings.HasPrefix(ct, "application/json")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&out.json); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %v\n%s", r.method, r.path, err, raw)
		}
	}
	return out
}

func (e *env) get(path string) *resp { return e.do(req{method: http.MethodGet, path: path}) }

func (e *env) post(path string, body any) *resp {
	return e.do(req{method: http.MethodPost, path: path, body: body})
}

func (e *env) patch(path string, ops ...any) *resp {
	return e.do(req{method: http.MethodPatch, path: path, body: map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}})
}

func op(o, path string, value any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

func strp(s string) *string { return &s }

// want checks the status and the invariant every answer shares: the SCIM
// content type, and for errors a SCIM error body with a string status.
func (r *resp) want(t testing.TB, status int) *resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, ContentType) {
		t.Fatalf("Content-Type %q, want %s", ct, ContentType)
	}
	if status >= 400 {
		if r.json == nil {
			t.Fatalf("error without a body")
		}
		if s, ok := r.json["status"].(string); !ok || s != itoa(status) {
			t.Fatalf("error status %#v, want the string %q", r.json["status"], itoa(status))
		}
		if !hasSchema(r.json, errorURN) {
			t.Fatalf("error body without the Error schema: %s", r.raw)
		}
	}
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

func hasSchema(m map[string]any, urn string) bool {
	list, _ := m["schemas"].([]any)
	for _, s := range list {
		if s == urn {
			return true
		}
	}
	return false
}

// at follows a JSON pointer-like path ("/name/givenName", "/emails/0/value")
// whose segments may contain ':' and '.' (URN keys).
func at(v any, pointer string) (any, bool) {
	if pointer == "" || pointer == "/" {
		return v, true
	}
	for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[seg]
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			var i int
			if err := json.Unmarshal([]byte(seg), &i); err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func (r *resp) str(t testing.TB, pointer string) string {
	t.Helper()
	v, ok := at(r.json, pointer)
	if !ok {
		t.Fatalf("%s missing in %s", pointer, r.raw)
	}
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %T, not a string", pointer, v)
	}
	return s
}

func (r *resp) num(t testing.TB, pointer string) int {
	t.Helper()
	v, ok := at(r.json, pointer)
	if !ok {
		t.Fatalf("%s missing in %s", pointer, r.raw)
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%s is %T (%v), not a JSON integer", pointer, v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s = %s is not an integer", pointer, n)
	}
	return int(i)
}

// user is a minimal Entra create body.
func user(userName string, extra ...any) map[string]any {
	m := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func group(name string, extra ...any) map[string]any {
	m := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": name,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}
