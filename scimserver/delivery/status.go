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

// storedStatus is the lease holder's status as it stores it for the
// standby replicas (State.SetDeliveryStatus): a WebhookStatus without
// name, acked and lag, which every replica has from its configuration,
// the deliveries row and the log.
type storedStatus struct {
	State           string     `json:"state"`
	LastDeliveredAt *time.Time `json:"lastDeliveredAt,omitempty"`
	LastAttemptAt   *time.Time `json:"lastAttemptAt,omitempty"`
	FailingSince    *time.Time `json:"failingSince,omitempty"`
	LastError       *LastError `json:"lastError,omitempty"`
}

func (s status) stored() storedStatus {
	d := storedStatus{
		State:           s.state,
		LastDeliveredAt: timePtr(s.lastDeliveredAt),
		LastAttemptAt:   timePtr(s.lastAttemptAt),
		FailingSince:    timePtr(s.failingSince),
	}
	if s.lastError != nil {
		d.LastError = &LastError{Status: s.lastError.Status, Message: s.lastError.Message, At: s.lastErrorAt.UTC()}
	}
	return d
}

// Status reports every configured webhook, sorted by name. A replica that
// does not hold a webhook's lease reports the status its holder stored,
// so that every replica answers alike; standby only while none is stored.
func (m *Manager) Status(ctx context.Context) (Report, error) {
	head, err := m.o.Events.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{Head: head, Webhooks: []WebhookStatus{}}
	for _, w := range m.snapshot() {
		s := w.status()
		d := s.stored()
		if s.state == StateStandby {
			d = m.holderStatus(ctx, w.name, &s.acked, d)
		}
		r.Webhooks = append(r.Webhooks, WebhookStatus{
			Name:            w.name,
			State:           d.State,
			Acked:           s.acked,
			Lag:             max(0, head-s.acked),
			LastDeliveredAt: d.LastDeliveredAt,
			LastAttemptAt:   d.LastAttemptAt,
			FailingSince:    d.FailingSince,
			LastError:       d.LastError,
		})
	}
	sort.Slice(r.Webhooks, func(i, j int) bool { return r.Webhooks[i].Name < r.Webhooks[j].Name })
	return r, nil
}

// holderStatus reads the stored cursor into acked and returns the status
// the lease holder stored, or own when the store has none (or failed: the
// report then shows this replica's standby, as before).
func (m *Manager) holderStatus(ctx context.Context, webhook string, acked *int64, own storedStatus) storedStatus {
	stored, doc, ok, err := m.o.State.DeliveryStatus(ctx, webhook)
	if err != nil || !ok {
		return own
	}
	*acked = stored
	if doc == nil {
		return own
	}
	var d storedStatus
	if err := json.Unmarshal(doc, &d); err != nil || d.State == "" {
		m.log.Warn("Unreadable stored delivery status", "webhook", webhook, "err", err)
		return own
	}
	return d
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
