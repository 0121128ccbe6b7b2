package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// entraRetry makes a tenant's calls behave as Entra's provisioning service
// does when the server fails: a connection error, a 5xx or a 429 is not the
// end of the operation; it is sent again after a backoff (the Retry-After
// the server gave, else doubling from first), at most attempts times.
//
// A failed attempt of a write leaves its outcome unknown: the server may
// have committed it before the connection broke. Entra does not re-send
// blindly; it evaluates the object again (match by userName or displayName,
// then create or update), so its retry of a create that had committed finds
// the object, and its retry of a delete that had committed finds it gone.
// settle plays that part: a create answered 409 after an unknown outcome is
// the object found by its matching attribute when it carries the
// externalId sent (else the 409 stands: someone else's object), a delete
// answered 404 after one is done. PATCHes are re-sent as they are: the server makes every
// Entra PATCH idempotent (removing an absent member succeeds).
type entraRetry struct {
	attempts int           // per call, the first included
	first    time.Duration // the first backoff without Retry-After

	mu      sync.Mutex
	calls   int      // calls started
	retried []string // one line per failed attempt that was retried
	settled []string // one line per unknown outcome settled by a match
	acked   []write  // every write the server acknowledged (2xx), in order
	at      int      // onCall runs when the at-th call starts
	onCall  func()
}

// whenCall runs f (in its own goroutine, concurrently with the calls) when
// the n-th call starts.
func (e *entraRetry) whenCall(n int, f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.at, e.onCall = n, f
}

func (e *entraRetry) call(t testing.TB, tn *tenant, token, method, path string, body any) response {
	t.Helper()
	e.mu.Lock()
	e.calls++
	if e.calls == e.at && e.onCall != nil {
		go e.onCall()
	}
	e.mu.Unlock()

	unknown := false // an earlier attempt of this write may have committed
	backoff := e.first
	for attempt := 1; ; attempt++ {
		r, err := tn.send(t, token, method, path, body)
		var why string
		switch {
		case err != nil:
			why = err.Error()
		case r.status >= 500 || r.status == http.StatusTooManyRequests:
			why = fmt.Sprintf("%d %s", r.status, strings.TrimSpace(r.raw))
		default:
			if unknown {
				r = e.settle(t, tn, token, method, path, body, r)
			}
			if method != http.MethodGet && r.status >= 200 && r.status < 300 {
				e.ack(method, path, r)
			}
			return r
		}
		if attempt == e.attempts {
			t.Fatalf("%s %s: still failing after %d attempts: %s", method, path, attempt, why)
		}
		wait := backoff
		if err == nil {
			if s, perr := strconv.Atoi(r.header.Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		e.mu.Lock()
		e.retried = append(e.retried, fmt.Sprintf("%s %s attempt %d: %s (retry in %s)", method, path, attempt, why, wait))
		e.mu.Unlock()
		t.Logf("Entra retry: %s %s attempt %d failed: %s; again in %s", method, path, attempt, why, wait)
		time.Sleep(wait)
		backoff *= 2
		unknown = unknown || method != http.MethodGet
	}
}

// settle resolves the answer to a retried write whose earlier attempt may
// have committed, as Entra's re-evaluation of the object would.
func (e *entraRetry) settle(t testing.TB, tn *tenant, token, method, path string, body any, r response) response {
	t.Helper()
	switch {
	case method == http.MethodPost && r.status == http.StatusConflict:
		doc, _ := body.(map[string]any)
		attr := "userName"
		if path == "/Groups" {
			attr = "displayName"
		}
		value, _ := doc[attr].(string)
		found := e.call(t, tn, token, http.MethodGet, path+"?filter="+eqFilter(attr, strings.ReplaceAll(value, " ", "+")), nil)
		if listLen(t, found) != 1 {
			t.Fatalf("POST %s answered 409 after an unknown outcome, but %s %q matches %s", path, attr, value, found.raw)
		}
		res, _ := get(found.body, "Resources", 0).(map[string]any)
		if res["externalId"] != doc["externalId"] {
			// Someone else's object (Entra's anchor, externalId, differs):
			// the 409 is the answer to this create.
			return r
		}
		e.note("POST %s: the earlier attempt had created %s %q (id %v)", path, attr, value, res["id"])
		raw, _ := json.Marshal(res)
		return response{status: http.StatusCreated, ctype: found.ctype, header: found.header, body: res, raw: string(raw)}
	case method == http.MethodDelete && r.status == http.StatusNotFound:
		e.note("DELETE %s: the earlier attempt had deleted it", path)
		return response{status: http.StatusNoContent, header: r.header}
	}
	return r
}

// write is one acknowledged write: the resource it went to and how.
type write struct {
	method, kind, id string // kind: Users or Groups
}

func (e *entraRetry) ack(method, path string, r response) {
	kind, id, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if method == http.MethodPost {
		id, _ = r.body["id"].(string)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.acked = append(e.acked, write{method: method, kind: kind, id: id})
}

// writes are the acknowledged writes so far.
func (e *entraRetry) writes() []write {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]write(nil), e.acked...)
}

func (e *entraRetry) note(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.settled = append(e.settled, fmt.Sprintf(format, args...))
}

// report is what the retries did, for the test log.
func (e *entraRetry) report() (calls int, retried, settled []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls, append([]string(nil), e.retried...), append([]string(nil), e.settled...)
}
