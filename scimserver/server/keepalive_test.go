package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// keepAliveConn is one client connection kept alive across requests, as
// Entra's client keeps it: a request the server answers without
// "Connection: close" must leave the connection usable for the next one,
// or a POST that follows (which a client must not retry) fails.
type keepAliveConn struct {
	t    *testing.T
	e    *env
	conn net.Conn
	br   *bufio.Reader
}

func dialKeepAlive(t *testing.T, e *env) *keepAliveConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keepAliveConn{t: t, e: e, conn: conn, br: bufio.NewReader(conn)}
}

// request builds one request; body nil sends none.
func (k *keepAliveConn) request(method, path, token string, body any) *http.Request {
	k.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			k.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequest(method, k.e.ts.URL+path, rd)
	if err != nil {
		k.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", ContentType)
	}
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	return hr
}

// send writes reqs back to back (pipelined when more than one) and reads
// their answers in order; every answer must keep the connection open.
func (k *keepAliveConn) send(reqs ...*http.Request) []int {
	k.t.Helper()
	var out bytes.Buffer
	for _, r := range reqs {
		if err := r.Write(&out); err != nil {
			k.t.Fatal(err)
		}
	}
	if _, err := k.conn.Write(out.Bytes()); err != nil {
		k.t.Fatalf("write: %v", err)
	}
	codes := make([]int, len(reqs))
	for i, r := range reqs {
		res, err := http.ReadResponse(k.br, r)
		if err != nil {
			k.t.Fatalf("%s %s: the server dropped the connection: %v", r.Method, r.URL.Path, err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil {
			k.t.Fatalf("%s %s: reading the body: %v", r.Method, r.URL.Path, err)
		}
		if res.Close {
			k.t.Fatalf("%s %s: answered %d with Connection: close", r.Method, r.URL.Path, res.StatusCode)
		}
		codes[i] = res.StatusCode
	}
	return codes
}

// The sequence of TestUnknownAttributesCountLogAndScope, many times over
// one connection, one request at a time and pipelined: the server never
// closes a connection it answered as reusable.
func TestKeepAliveAcrossAnswers(t *testing.T) {
	e := newEnv(t, withStatusToken(t))
	k := dialKeepAlive(t, e)
	for i := range 50 {
		seq := []*http.Request{
			k.request(http.MethodPost, basePath+"/Users", writeToken, user(fmt.Sprintf("k%d@x", i), "shoeSize", 1)),
			k.request(http.MethodPost, basePath+"/Users", writeToken, user(fmt.Sprintf("k%d@x", i))),
			k.request(http.MethodGet, StatusPath, statusToken, nil),
			k.request(http.MethodGet, StatusPath, writeToken, nil),
			k.request(http.MethodGet, StatusPath, readToken, nil),
			k.request(http.MethodGet, StatusPath, "", nil),
			k.request(http.MethodPost, StatusPath, statusToken, nil),
			k.request(http.MethodGet, basePath+"/Users", statusToken, nil),
			k.request(http.MethodGet, basePath+"/Users?count=1", writeToken, nil),
		}
		want := []int{201, 409, 200, 403, 403, 401, 405, 403, 200}
		var got []int
		if i%2 == 0 {
			for _, r := range seq {
				got = append(got, k.send(r)...)
			}
		} else {
			got = k.send(seq...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: statuses %v, want %v", i, got, want)
		}
	}
}

// The body read deadline is for bodies only. net/http keeps a read pending
// on the connection while a bodyless request runs (to notice a client that
// goes away); a deadline set then fires in that read, and net/http takes it
// for the client hanging up: it cancels the connection's context, so the
// request and every later one on that keep-alive connection would run with
// a cancelled context. A bodyless request outliving BodyReadTimeout keeps
// its context, and so does the next request on the connection.
func TestBodyDeadlineSparesBodylessRequests(t *testing.T) {
	const bodyWait = 20 * time.Millisecond
	e := newEnv(t, func(o *Options) { o.RequestTimeout = time.Minute; o.BodyReadTimeout = bodyWait })
	var (
		mu      sync.Mutex
		ctxErrs []error
	)
	h := e.srv.limits(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			// Outlive the body deadline; a cancelled context ends the wait.
			select {
			case <-r.Context().Done():
			case <-time.After(10 * bodyWait):
			}
		}
		mu.Lock()
		ctxErrs = append(ctxErrs, r.Context().Err())
		mu.Unlock()
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	k := dialKeepAlive(t, &env{ts: ts})
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/slow"}, {http.MethodGet, "/next"}, {http.MethodDelete, "/slow"}, {http.MethodGet, "/next"},
	} {
		if got := k.send(k.request(r.method, r.path, "", nil)); got[0] != http.StatusNoContent {
			t.Fatalf("%s %s: %d", r.method, r.path, got[0])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ctxErrs) != 4 {
		t.Fatalf("%d requests reached the handler, want 4", len(ctxErrs))
	}
	for i, err := range ctxErrs {
		if err != nil {
			t.Fatalf("request %d ran with a cancelled context: %v (all: %v)", i, err, ctxErrs)
		}
	}
}
