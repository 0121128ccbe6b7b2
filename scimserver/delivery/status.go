package delivery

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// The delivery status document is declared in package statusdoc, which the
// operator's poller decodes into; these names are the delivery side's.
type (
	// Report is the body of GET /v1/webhooks.
	Report = statusdoc.Webhooks
	// WebhookStatus is one webhook's delivery state.
	WebhookStatus = statusdoc.Webhook
	// LastError is a webhook's last failed attempt.
	LastError = statusdoc.LastError
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Status reports every configured webhook, sorted by name.
func (m *Manager) Status(ctx context.Context) (Report, error) {
	head, err := m.o.Events.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Head: head, Webhooks: []WebhookStatus{}}
	for _, w := range m.snapshot() {
		s := w.status()
		if s.state == StateStandby {
			if acked, ok, err := m.o.State.DeliveryCursor(ctx, w.name); err == nil && ok {
				s.acked = acked
			}
		}
		ws := WebhookStatus{
			Name:            w.name,
			State:           s.state,
			Acked:           s.acked,
			Lag:             max(0, head-s.acked),
			LastDeliveredAt: timePtr(s.lastDeliveredAt),
			LastAttemptAt:   timePtr(s.lastAttemptAt),
			FailingSince:    timePtr(s.failingSince),
		}
		if s.lastError != nil {
			ws.LastError = &LastError{Status: s.lastError.Status, Message: s.lastError.Message, At: s.lastErrorAt.UTC()}
		}
		r.Webhooks = append(r.Webhooks, ws)
	}
	sort.Slice(r.Webhooks, func(i, j int) bool { return r.Webhooks[i].Name < r.Webhooks[j].Name })
	return r, nil
}

// ServeHTTP serves the Report as JSON (GET /v1/webhooks). Authentication
// is the caller's (the server requires the status scope).
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, `{"detail":"use GET"}`, http.StatusMethodNotAllowed)
		return
	}
	rep, err := m.Status(r.Context())
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"detail": "reading the change log: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(rep)
}
