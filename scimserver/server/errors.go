package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// ContentType is sent on every SCIM response, errors included: Entra (and
// the SCIM Validator) refuse to parse application/json.
const ContentType = "application/scim+json"

// errorURN is the RFC 7644 §3.12 error message schema.
const errorURN = "urn:ietf:params:scim:api:messages:2.0:Error"

type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"` // a string, as RFC 7644 §3.12 says
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// errorJSON renders the SCIM error body for status.
func errorJSON(status int, scimType, detail string) []byte {
	b, _ := json.Marshal(errorBody{
		Schemas:  []string{errorURN},
		Status:   strconv.Itoa(status),
		ScimType: scimType,
		Detail:   detail,
	})
	return b
}

// writeJSON marshals v first, so that a failure to encode is a clean 500
// rather than a half-written body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "R&D" stays readable; nothing here is HTML
	if err := enc.Encode(v); err != nil {
		writeSCIMError(w, http.StatusInternalServerError, "", "internal error rendering the response")
		return
	}
	writeEncoded(w, status, buf.Bytes())
}

// writeEncoded writes a JSON body encoded already.
func writeEncoded(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeSCIMError(w http.ResponseWriter, status int, scimType, detail string) {
	b := errorJSON(status, scimType, detail)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Del("ETag")
	h.Del("Location")
	if rec := recorderOf(w); rec != nil {
		rec.scimType, rec.detail = scimType, detail
	}
	if status == http.StatusRequestTimeout {
		// The rest of the body is still on its way (or never comes): the
		// connection cannot carry another request.
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// storeRetryAfter is the Retry-After, in seconds, of a 503 for an
// unavailable store: about what a PostgreSQL restart or failover takes.
const storeRetryAfter = 5

// recorderOf finds the observe layer's recorder under w's wrappers.
func recorderOf(w http.ResponseWriter) *recorder {
	for {
		switch v := w.(type) {
		case *recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// errTimeout answers requests that ran past the request timeout.
var errTimeout = scimerr.New(http.StatusServiceUnavailable, "", "the request took too long; retry later")

// writeError answers err: a *scimerr.Error is the client's fault and is
// rendered as is; store.ErrNotFound is a 404; a deadline is a 503; anything
// else is a server fault, logged by the caller's middleware and hidden from
// the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := scimerr.As(err); ok {
		writeSCIMError(w, e.Status, e.ScimType, e.Detail)
		return
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeSCIMError(w, http.StatusNotFound, "", "resource not found")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		writeSCIMError(w, errTimeout.Status, "", errTimeout.Detail)
	case errors.Is(err, store.ErrUnavailable):
		// The database is down or failing over: Entra retries a 503 after
		// Retry-After; the details are for the logs only.
		s.log.WarnContext(r.Context(), "Store unavailable", "requestID", requestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(storeRetryAfter))
		writeSCIMError(w, http.StatusServiceUnavailable, "", "the database is unavailable; retry later")
	default:
		s.log.ErrorContext(r.Context(), "Request failed", "requestID", requestIDFrom(r.Context()), "err", err)
		writeSCIMError(w, http.StatusInternalServerError, "", "internal server error")
	}
}
