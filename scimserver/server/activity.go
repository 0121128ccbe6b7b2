package server

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// ActivityPath serves the redacted request history, outside the SCIM base
// path. Only tokens with the activity scope may read it.
const ActivityPath = statusdoc.ActivityPath

// Bounds of the activity endpoint and of what one entry holds.
const (
	// maxActivityDetail clips an error detail kept in the history.
	maxActivityDetail = 256
	// defaultActivityLimit and maxActivityLimit bound one answer.
	defaultActivityLimit = 100
	maxActivityLimit     = 1000
	// activityFollowWait is how long ?follow waits for a new entry before
	// answering an empty page (clients ask again with next).
	activityFollowWait = 25 * time.Second
	// errorWindowMinutes is the window of the client error counts in
	// GET /v1/status, in one-minute buckets.
	errorWindowMinutes = 10
)

// activityEntry is one served request, redacted: the path keeps resource
// ids (no personal data) and query parameter names, but no filter literal
// and no value of a parameter it does not know; no body, no token.
type activityEntry struct {
	seq         uint64
	time        time.Time
	method      string
	path        string
	status      int
	scimType    string
	detail      string
	token       string // name of the token that authenticated, "" if none
	revision    int64
	fingerprint string
	duration    time.Duration
}

// tokenKey identifies one token of the token file: a rotated ScimToken's
// current and previous tokens share the name, not the revision.
type tokenKey struct {
	name     string
	revision int64
}

type tokenUse struct {
	fingerprint string
	last        time.Time
}

// errorBucket counts the requests and client errors of one minute.
type errorBucket struct {
	minute           int64
	requests, errors int64
}

// activity is the server's memory of the requests it served: a fixed-size
// ring of redacted entries (GET /v1/activity) and the few aggregates GET
// /v1/status reports. Recording costs one lock and no allocation beyond the
// redacted path of a request with a query; it is all in memory, so a
// restarted server starts empty (the operator keeps what it last read).
type activity struct {
	mu        sync.Mutex
	ring      []activityEntry
	seq       uint64 // entries ever recorded; ring[(seq-1)%len] is the newest
	retention time.Duration
	tokens    map[tokenKey]tokenUse
	lastReq   time.Time
	lastWrite time.Time
	lastErr   activityEntry
	hasErr    bool
	window    [errorWindowMinutes]errorBucket
	waiters   int
	wake      chan struct{} // closed when an entry is recorded and someone waits
}

func newActivity(entries int, retention time.Duration) *activity {
	return &activity{
		ring:      make([]activityEntry, entries),
		retention: retention,
		tokens:    map[tokenKey]tokenUse{},
		wake:      make(chan struct{}),
	}
}

// record remembers one request. write says it changed something.
func (a *activity) record(e activityEntry, write bool) {
	minute := e.time.Unix() / 60
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	e.seq = a.seq
	a.ring[(a.seq-1)%uint64(len(a.ring))] = e
	if e.token != "" { // unauthenticated probes say nothing about the sync
		if e.time.After(a.lastReq) {
			a.lastReq = e.time
		}
		k := tokenKey{e.token, e.revision}
		if u := a.tokens[k]; e.time.After(u.last) {
			a.tokens[k] = tokenUse{fingerprint: e.fingerprint, last: e.time}
		}
	}
	if write && e.status < 300 && e.time.After(a.lastWrite) {
		a.lastWrite = e.time
	}
	b := &a.window[minute%errorWindowMinutes]
	if b.minute != minute {
		*b = errorBucket{minute: minute}
	}
	b.requests++
	if clientError(e.status) {
		b.errors++
		a.lastErr = e // a copy: the ring slot is reused
		a.hasErr = true
	}
	if a.waiters > 0 {
		close(a.wake)
		a.wake = make(chan struct{})
		a.waiters = 0
	}
}

// clientError: any 4xx, 401 included (Entra holding a token the tenant no
// longer accepts is the failure most worth seeing).
func clientError(status int) bool { return status >= 400 && status < 500 }

// read returns up to limit entries after cursor (or, with since set, at or
// after since), oldest first, none older than the retention, and the cursor
// to read on from.
func (a *activity) read(after uint64, since time.Time, limit int, now time.Time) ([]activityEntry, uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	oldest := uint64(1)
	if a.seq > uint64(len(a.ring)) {
		oldest = a.seq - uint64(len(a.ring)) + 1
	}
	if after > a.seq {
		// A cursor from before a restart (or from another replica):
		// read from the oldest entry kept.
		after = 0
	}
	from := max(after+1, oldest)
	cutoff := now.Add(-a.retention)
	if since.After(cutoff) {
		cutoff = since
	}
	out := make([]activityEntry, 0, min(limit, int(a.seq-min(a.seq, from-1))))
	next := max(after, from-1)
	for s := from; s <= a.seq && len(out) < limit; s++ {
		e := a.ring[(s-1)%uint64(len(a.ring))]
		next = s
		if e.time.Before(cutoff) {
			continue
		}
		out = append(out, e)
	}
	return out, next
}

// waitChan returns a channel closed by the next record.
func (a *activity) waitChan() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiters++
	return a.wake
}

// redactedPath is the path of r with the query reduced to what holds no
// personal data: parameter names, paging and projection values, and the
// filter with every quoted literal replaced by "…".
func redactedPath(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.Path
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return r.URL.Path + "?…"
	}
	var b strings.Builder
	b.WriteString(r.URL.Path)
	sep := byte('?')
	for _, k := range slices.Sorted(maps.Keys(q)) {
		for _, v := range q[k] {
			b.WriteByte(sep)
			sep = '&'
			b.WriteString(url.QueryEscape(k))
			switch strings.ToLower(k) {
			case "attributes", "excludedattributes", "startindex", "count", "sortby", "sortorder":
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(v))
			case "filter":
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(redactFilter(v)))
			default:
				if v != "" {
					b.WriteString("=…")
				}
			}
		}
	}
	return b.String()
}

// redactFilter replaces the contents of every string literal of a SCIM
// filter, or of an error detail, (userName eq "alice@example.com") with "…"; attribute paths,
// operators and non-string literals (true, 42, null) stay. An unterminated
// literal is cut off too.
func redactFilter(f string) string {
	var b strings.Builder
	in, esc := false, false
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case in && esc:
			esc = false
		case in && c == '\\':
			esc = true
		case in && c == '"':
			in = false
			b.WriteString(`…"`)
		case in:
		case c == '"':
			in = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	if in {
		b.WriteString(`…"`)
	}
	return b.String()
}

// observeActivity records a SCIM API request once it is served.
func (s *Server) observeActivity(r *http.Request, rec *recorder, ri *reqInfo, status int, start time.Time, elapsed time.Duration) {
	e := activityEntry{
		time:     start.UTC(),
		method:   r.Method,
		path:     redactedPath(r),
		status:   status,
		duration: elapsed,
	}
	if status >= 400 {
		// Details quote the values a client sent (userName "alice@…" is
		// taken): personal data, redacted like filter literals.
		e.scimType, e.detail = rec.scimType, clipDetail(redactFilter(rec.detail))
	}
	if t := ri.token; t != nil {
		e.token, e.revision, e.fingerprint = t.Name, t.Revision, auth.FingerprintOfHash(t.SHA256)
	}
	s.activity.record(e, !readOnly(r))
}

func clipDetail(d string) string {
	if len(d) <= maxActivityDetail {
		return d
	}
	return clipName(d[:maxActivityDetail+1])
}

// serveActivity answers GET /v1/activity?since=<RFC 3339 time or cursor>&limit=&follow.
func (s *Server) serveActivity(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	q := r.URL.Query()
	var after uint64
	var since time.Time
	if v := q.Get("since"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			after = n
		} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			since = t
		} else {
			writeSCIMError(w, http.StatusBadRequest, "invalidValue",
				"since must be an RFC 3339 time (2026-11-27T10:00:00Z) or the next cursor of an earlier answer, got "+strconv.Quote(clipName(v)))
			return
		}
	}
	limit := defaultActivityLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxActivityLimit {
			writeSCIMError(w, http.StatusBadRequest, "invalidValue",
				"limit must be a whole number from 1 to "+strconv.Itoa(maxActivityLimit))
			return
		}
		limit = n
	}
	follow := q.Has("follow") && q.Get("follow") != "false"
	entries, next := s.activity.read(after, since, limit, s.now())
	if follow && len(entries) == 0 {
		entries, next = s.followActivity(r.Context(), next, since, limit)
	}
	page := statusdoc.ActivityPage{Entries: make([]statusdoc.ActivityEntry, len(entries)), Next: strconv.FormatUint(next, 10)}
	for i, e := range entries {
		page.Entries[i] = statusdoc.ActivityEntry{
			Time: e.time, Method: e.method, Path: e.path, Status: e.status, ScimType: e.scimType, Detail: e.detail,
			Token: e.token, TokenRevision: e.revision, TokenFingerprint: e.fingerprint,
			DurationMs: float64(e.duration.Microseconds()) / 1000,
		}
	}
	writeJSON(w, http.StatusOK, page)
}

// followActivity waits (at most activityFollowWait, wall clock: it bounds a
// connection) for entries after cursor.
func (s *Server) followActivity(ctx context.Context, after uint64, since time.Time, limit int) ([]activityEntry, uint64) {
	timer := time.NewTimer(activityFollowWait)
	defer timer.Stop()
	for {
		wake := s.activity.waitChan()
		// An entry recorded between the first read and waitChan must
		// not be missed.
		if entries, next := s.activity.read(after, since, limit, s.now()); len(entries) > 0 {
			return entries, next
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, after
		case <-timer.C:
			return nil, after
		}
	}
}

// status fills in what GET /v1/status reports of the requests served.
func (a *activity) status(now time.Time, st *statusdoc.Tenant) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st.Tokens = make([]statusdoc.TokenUse, 0, len(a.tokens))
	st.ClientErrors = statusdoc.ErrorWindow{WindowSeconds: errorWindowMinutes * 60}
	for k, u := range a.tokens {
		st.Tokens = append(st.Tokens, statusdoc.TokenUse{Name: k.name, Revision: k.revision, Fingerprint: u.fingerprint, LastRequest: u.last})
	}
	sortTokens(st.Tokens)
	if !a.lastReq.IsZero() {
		t := a.lastReq
		st.LastRequest = &t
	}
	if !a.lastWrite.IsZero() {
		t := a.lastWrite
		st.LastWrite = &t
	}
	if e := a.lastErr; a.hasErr {
		st.LastClientError = &statusdoc.ClientError{Status: e.status, ScimType: e.scimType, Detail: e.detail, Time: e.time}
	}
	minute := now.Unix() / 60
	for _, b := range a.window {
		if b.minute > minute-errorWindowMinutes && b.minute <= minute {
			st.ClientErrors.Requests += b.requests
			st.ClientErrors.Errors += b.errors
		}
	}
}

func sortTokens(ts []statusdoc.TokenUse) {
	slices.SortFunc(ts, func(a, b statusdoc.TokenUse) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Revision, b.Revision))
	})
}
