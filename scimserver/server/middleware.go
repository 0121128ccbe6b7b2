package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// reqInfo travels in the request context; inner layers fill it in and the
// outer logging/metrics layer reads it once the request is done.
type reqInfo struct {
	id       string
	resource string // metrics label: Users, Groups, Schemas, ...
	token    *auth.TokenEntry
	scim     bool // a SCIM API request: kept in the activity history
}

type ctxKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

func requestIDFrom(ctx context.Context) string { return infoFrom(ctx).id }

// recorder remembers the status and size of a response, and types it as
// the client asked (see responseType): whatever a handler writes as
// application/scim+json leaves as the negotiated type.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int
	contentType string
	// scimType and detail of the SCIM error written, for the activity
	// history (set by writeSCIMError).
	scimType, detail string
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if h := r.Header(); r.contentType != ContentType && h.Get("Content-Type") == ContentType {
			h.Set("Content-Type", r.contentType)
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// maxRequestIDLen bounds a client-chosen X-Request-Id so it cannot bloat logs.
const maxRequestIDLen = 128

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts printable ASCII without spaces, so a client id
// cannot inject anything into logs or headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// observe is the outermost layer: request id, the default Content-Type,
// panic recovery, one access log line and the request metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &reqInfo{id: r.Header.Get("X-Request-Id"), resource: "other"}
		if !validRequestID(ri.id) {
			ri.id = newRequestID()
		}
		w.Header().Set("X-Request-Id", ri.id)
		// Set up front so that every answer, including ones written by
		// net/http helpers, is typed as SCIM.
		w.Header().Set("Content-Type", ContentType)
		w.Header().Add("Vary", "Accept")
		rec := &recorder{ResponseWriter: w, contentType: responseType(r.Header.Get("Accept"))}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("Panic serving request", "requestID", ri.id, "method", r.Method,
					"path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeSCIMError(rec, http.StatusInternalServerError, "", "internal server error")
				} else {
					rec.status = http.StatusInternalServerError
				}
			}
			s.finish(r, rec, ri, start)
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) finish(r *http.Request, rec *recorder, ri *reqInfo, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := s.now().Sub(start)
	if ri.resource != "metrics" && ri.resource != "healthz" && ri.resource != "readyz" {
		s.metrics.requests.WithLabelValues(ri.resource, r.Method, strconv.Itoa(status)).Inc()
		s.metrics.latency.WithLabelValues(ri.resource, r.Method).Observe(elapsed.Seconds())
	}
	if ri.scim {
		s.observeActivity(r, rec, ri, status, start, elapsed)
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case ri.resource == "healthz" || ri.resource == "readyz" || ri.resource == "metrics":
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	// LogAttrs with typed attributes: no boxing of every value into an
	// interface, which made the access line a few percent of a request.
	attrs := [9]slog.Attr{
		slog.String("requestID", ri.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path), // the query may carry a userName (PII) in a filter; the path carries only ids
		slog.Int("status", status),
		slog.Int("bytes", rec.bytes),
		slog.Float64("durationMs", float64(elapsed.Microseconds())/1000),
		slog.String("remoteAddr", r.RemoteAddr),
	}
	n := 7
	if ri.token != nil {
		attrs[7], attrs[8] = slog.String("tokenName", ri.token.Name), slog.String("tokenFingerprint", ri.token.Fingerprint())
		n = 9
	}
	s.log.LogAttrs(ctx, level, "Request served", attrs[:n]...)
}

// readOnly reports whether a request only reads: GET (and HEAD) and the POST
// .search endpoints.
func readOnly(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return strings.HasSuffix(r.URL.Path, "/.search")
	}
	return false
}

// requestScope is the scope a SCIM or feed request needs.
func requestScope(r *http.Request) string {
	if readOnly(r) {
		return auth.ScopeRead
	}
	return auth.ScopeWrite
}

// authenticate checks the bearer token and the scope the request needs.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.authenticateScope(requestScope, next)
}

// authenticateScope checks the bearer token and that it carries the scope
// scopeOf names for the request.
func (s *Server) authenticateScope(scopeOf func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entry, err := s.keyring.Authenticate(r.Header.Get("Authorization"), s.now())
		if err != nil {
			reason := "unauthorized"
			if ae, ok := err.(*auth.AuthError); ok {
				reason = ae.Reason
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
			detail := "a valid bearer token is required"
			switch reason {
			case auth.ReasonExpired:
				detail = "the bearer token has expired"
			case auth.ReasonMissing:
				detail = "the Authorization header is missing; send Authorization: Bearer <token>"
			}
			writeSCIMError(w, http.StatusUnauthorized, "", detail)
			return
		}
		infoFrom(r.Context()).token = &entry
		scope := scopeOf(r)
		if !entry.Allows(scope) {
			s.keyring.RecordFailure(auth.ReasonInsufficient)
			writeSCIMError(w, http.StatusForbidden, "", fmt.Sprintf("the token %q lacks the %s scope", entry.Name, scope))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limits bounds the request body and the time a request may take.
func (s *Server) limits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody {
			writeSCIMError(w, http.StatusRequestEntityTooLarge, "",
				fmt.Sprintf("the request body exceeds %d bytes", s.maxBody))
			return
		}
		// Decided before the body is wrapped: a wrapped body is never
		// http.NoBody.
		hasBody := r.Body != nil && r.Body != http.NoBody
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		if s.bodyWait > 0 && hasBody {
			// A body arriving a byte at a time would otherwise hold the
			// connection and the handler forever: the context deadline
			// below does not interrupt a blocked read, a read deadline
			// does (readBody then answers 408). Wall clock, not s.now:
			// the deadline is the network's. Writers without deadline
			// support (tests' recorders) are left unbounded.
			//
			// Never on a bodyless request: net/http keeps a read pending
			// on the connection while it runs, a deadline would fire in
			// that read, and net/http would take it for the client
			// leaving and cancel the connection's context, failing this
			// request and every later one on the keep-alive connection.
			// (With a body that read starts once the body is consumed,
			// and net/http clears the deadline for it.)
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyWait))
		}
		if s.timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}
