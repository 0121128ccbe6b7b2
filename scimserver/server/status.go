package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// inactiveTTL is how long GET /v1/status reuses the count of inactive
// users. Totals come from the store's per-kind counters on every poll, but
// counting inactive users scans the users' text (about 0.4 s for 100,000
// users, see BenchmarkCountInactive100k in package store), so it runs at
// most once per TTL however often the operator polls; Entra disables users
// rarely, so a few minutes of staleness is harmless.
const inactiveTTL = 5 * time.Minute

// countsCache keeps the last count of inactive users for inactiveTTL.
type countsCache struct {
	mu       sync.Mutex
	at       time.Time
	inactive int64
}

// inactiveQuery selects users whose active attribute is false; the text
// condition lets the scan decode only documents containing "false" (any
// JSON encoding of active: false does).
var inactiveQuery = store.Query{
	Text:  store.Contains("false", false),
	Match: func(r *store.Resource) bool { v, ok := r.Doc["active"].(bool); return ok && !v },
}

// counts returns the users (active and inactive) and groups, and when the
// inactive users were counted.
func (s *Server) counts(ctx context.Context) (statusdoc.UserCounts, int64, time.Time, error) {
	users, err := s.store.List(ctx, store.User, store.Query{})
	if err != nil {
		return statusdoc.UserCounts{}, 0, time.Time{}, err
	}
	var groups int64
	if s.reg.ResourceType("Group") != nil {
		g, err := s.store.List(ctx, store.Group, store.Query{})
		if err != nil {
			return statusdoc.UserCounts{}, 0, time.Time{}, err
		}
		groups = int64(g.Total)
	}
	c := &s.countsC
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := s.now(); c.at.IsZero() || now.Sub(c.at) >= inactiveTTL || now.Before(c.at) {
		inactive, err := s.store.List(ctx, store.User, inactiveQuery)
		if err != nil {
			return statusdoc.UserCounts{}, 0, time.Time{}, err
		}
		c.inactive, c.at = int64(inactive.Total), now
	}
	inactive := min(c.inactive, int64(users.Total))
	return statusdoc.UserCounts{Active: int64(users.Total) - inactive, Inactive: inactive}, groups, c.at, nil
}

// serveStatus answers GET /v1/status.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	mode := s.cfg.UnknownAttributes
	if mode == "" {
		mode = config.UnknownIgnore
	}
	now := s.now()
	d := statusdoc.Tenant{UnknownAttributes: mode, StartedAt: s.started.UTC()}
	s.activity.status(now, &d)
	d.DroppedAttributes, d.RejectedAttributes = s.unknown.snapshot()
	if users, groups, at, err := s.counts(r.Context()); err != nil {
		// The rest of the report is still worth having.
		s.log.WarnContext(r.Context(), "Status: cannot count resources", "requestID", requestIDFrom(r.Context()), "err", err)
	} else {
		at = at.UTC()
		d.Users, d.Groups, d.InactiveCountedAt = &users, &groups, &at
	}
	writeJSON(w, http.StatusOK, d)
}
