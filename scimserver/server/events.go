package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// The change feed (docs/events.md): GET /v1/events and GET /v1/events/head,
// served on the SCIM listener but outside the SCIM base path, so an Ingress
// publishing the base path does not publish the feed. Tokens need the read
// scope.

// Feed paths and limits.
const (
	EventsPath     = "/v1/events"
	EventsHeadPath = "/v1/events/head"

	DefaultFeedLimit = 100
	MaxFeedLimit     = 1000
	MaxFeedWait      = 60 * time.Second

	// EventPruneInterval is how often RunEventPruner deletes expired events.
	EventPruneInterval = 10 * time.Minute
)

// Events is the tenant's change log as applications see it: each event's
// resource rendered by the same renderer as the SCIM API (groups without
// members). Locations use the configured external URL, else they are
// relative to the server (the base path). Webhook delivery reads it.
func (s *Server) Events() eventlog.Reader { return eventReader{s: s, base: s.eventBase(nil)} }

type eventReader struct {
	s    *Server
	base string
}

func (r eventReader) Read(ctx context.Context, after int64, limit int) ([]eventlog.Event, error) {
	evs, _, err := r.s.readEvents(ctx, r.base, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]eventlog.Event, len(evs))
	for i := range evs {
		out[i] = evs[i].Event
		if out[i].Resource, err = encodeJSON(evs[i].Resource); err != nil {
			return nil, fmt.Errorf("rendering event %d: %w", evs[i].Seq, err)
		}
	}
	return out, nil
}

func (r eventReader) Head(ctx context.Context) (int64, error) { return r.s.store.EventHead(ctx) }

func (r eventReader) Wait(ctx context.Context, after int64) error {
	return r.s.store.WaitEvents(ctx, after)
}

// eventBase is the SCIM base URL in rendered events: the request's (as
// every SCIM response), or without a request the external URL, else the
// base path alone.
func (s *Server) eventBase(r *http.Request) string {
	if r != nil {
		return s.baseURL(r)
	}
	if s.extBase != "" {
		return s.extBase
	}
	return s.basePath
}

// renderedEvent is an event with its resource rendered but not yet
// encoded, so that the feed encodes a whole page in one pass. Its Resource
// takes the place of the embedded (raw) one in JSON.
type renderedEvent struct {
	eventlog.Event
	Resource any `json:"resource,omitempty"`
}

// readEvents reads and renders one page of the log and the cursor after it.
func (s *Server) readEvents(ctx context.Context, base string, after int64, limit int) ([]renderedEvent, int64, error) {
	raw, next, err := s.store.ReadEvents(ctx, after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]renderedEvent, len(raw))
	for i := range raw {
		out[i] = s.renderEvent(base, &raw[i])
	}
	return out, next, nil
}

func (s *Server) renderEvent(base string, e *store.Event) renderedEvent {
	res := e.Resource
	var body map[string]any
	if rt := s.reg.ResourceType(string(res.Kind)); rt != nil {
		body = s.render(rt, res, view{base: base})
	} else {
		// Groups were switched off after these events were written: no
		// schema renders them any more; publish the stored document.
		body = make(map[string]any, len(res.Doc)+1)
		for k, v := range res.Doc {
			body[k] = v
		}
		body["id"] = res.ID
	}
	return renderedEvent{
		Event: eventlog.Event{
			Seq: e.Seq, ID: e.ID, Type: e.Type, Time: e.Time,
			ResourceType: string(res.Kind), ResourceID: res.ID,
			Changes: e.Changes, Member: e.Member,
		},
		Resource: body,
	}
}

// encodeJSON encodes v as the responses do (no HTML escaping).
func encodeJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// feedQuery is what GET /v1/events asks for.
type feedQuery struct {
	after int64
	limit int
	wait  time.Duration
}

// parseFeedQuery reads after (a cursor, default 0: from the oldest retained
// event), limit (default 100, at most 1000) and wait (seconds or a Go
// duration, at most 60s). Larger limits and waits are lowered to the
// maximum, as SCIM lowers count; malformed or negative values are 400.
func parseFeedQuery(q url.Values) (feedQuery, error) {
	fq := feedQuery{limit: DefaultFeedLimit}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fq, scimerr.BadRequest(scimerr.InvalidValue,
				"after=%q is not a cursor: pass the \"next\" value of the previous page (an integer >= 0), or omit it to start from the oldest retained event", v)
		}
		fq.after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fq, scimerr.BadRequest(scimerr.InvalidValue, "limit=%q must be an integer from 1 to %d", v, MaxFeedLimit)
		}
		fq.limit = min(n, MaxFeedLimit)
	}
	if v := q.Get("wait"); v != "" {
		d, err := parseWait(v)
		if err != nil || d < 0 {
			return fq, scimerr.BadRequest(scimerr.InvalidValue,
				"wait=%q must be a number of seconds or a duration such as 30s, at most %s", v, MaxFeedWait)
		}
		fq.wait = min(d, MaxFeedWait)
	}
	return fq, nil
}

func parseWait(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(MaxFeedWait/time.Second) {
			return MaxFeedWait, nil
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// feedPage is the body of GET /v1/events.
type feedPage struct {
	Events []renderedEvent `json:"events"`
	// Next is the cursor to pass as after: the last event's seq, or the
	// cursor asked for when there was none.
	Next int64 `json:"next"`
}

// serveEvents handles the feed endpoints, behind authenticate (read scope)
// and the rate limit.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !s.onlyGet(w, r) {
		return
	}
	if r.URL.Path == EventsHeadPath {
		h, err := s.store.EventHead(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{"seq": h})
		return
	}
	fq, err := parseFeedQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if s.timeout > 0 {
		// The request timeout bounds the work, not the long-poll wait.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fq.wait+s.timeout)
		defer cancel()
	}
	base := s.eventBase(r)
	evs, next, err := s.readEvents(ctx, base, fq.after, fq.limit)
	if err == nil && len(evs) == 0 && fq.wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, fq.wait)
		werr := s.store.WaitEvents(wctx, next)
		cancel()
		switch {
		case werr == nil:
			evs, next, err = s.readEvents(ctx, base, next, fq.limit)
		case r.Context().Err() != nil:
			return // the client left
		case !errors.Is(werr, context.DeadlineExceeded):
			err = werr
		}
	}
	if errors.Is(err, eventlog.ErrExpired) {
		writeSCIMError(w, http.StatusGone, scimerr.InvalidValue, expiredDetail(fq.after, err, s.cfg.EventRetention(), base))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, feedPage{Events: evs, Next: next})
}

// expiredDetail tells a reader whose cursor fell out of the log how to
// resync without missing a change.
func expiredDetail(after int64, err error, retention time.Duration, base string) string {
	return fmt.Sprintf("cursor %d can no longer be continued: %v (events are kept %s). Resync: "+
		"1) GET %s and keep its seq; 2) read every user and group over SCIM (GET %s/Users and %s/Groups, paged); "+
		"3) continue with GET %s?after=seq. Changes made during the snapshot are replayed by the feed, so apply events idempotently.",
		after, err, retention, EventsHeadPath, base, base, EventsPath)
}

// PruneEvents deletes the events older than the tenant's retention.
func (s *Server) PruneEvents(ctx context.Context) (int, error) {
	n, err := s.store.PruneEvents(ctx, s.now().Add(-s.cfg.EventRetention()))
	s.pruned.Add(float64(n))
	return n, err
}

// registerEventMetrics adds the change log's metrics: its head (a reader's
// lag is head minus its cursor) and the events pruned.
func (s *Server) registerEventMetrics() error {
	s.pruned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "scim_events_pruned_total",
		Help: "Events deleted from the change log because they were older than the retention.",
	})
	head := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scim_events_head",
		Help: "Cursor (seq) of the newest event in the change log.",
	}, func() float64 {
		h, err := s.store.EventHead(context.Background())
		if err != nil {
			return -1
		}
		return float64(h)
	})
	for _, c := range []prometheus.Collector{s.pruned, head} {
		if err := s.promReg.Register(c); err != nil {
			return fmt.Errorf("server: registering change log metrics: %w", err)
		}
	}
	return nil
}

// RunEventPruner prunes expired events now and every interval until ctx
// ends. Pruning works in small transactions, so writes never stall behind it.
func (s *Server) RunEventPruner(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.PruneEvents(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("Pruning the change log", "err", err)
		case n > 0:
			s.log.Info("Pruned the change log", "events", n, "retention", s.cfg.EventRetention().String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
