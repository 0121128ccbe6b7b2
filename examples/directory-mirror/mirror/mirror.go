// Package mirror is the demo consumer of tenant webhooks: it verifies each
// request's Standard Webhooks signature, applies the events to an in-memory
// copy of the directory (users, groups, memberships) and serves that copy.
// It is what an application consuming the directory does, in ~200 lines;
// docs/consume.md walks through it.
package mirror

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// maxBody bounds a request: a batch of 1,000 events with big groups fits.
const maxBody = 16 << 20

// Directory is the mirrored directory. Events are applied in cursor order;
// one at or before the last applied cursor is a redelivery and is skipped
// (delivery is at-least-once; seq makes that idempotent).
type Directory struct {
	mu     sync.Mutex
	seq    int64
	users  map[string]json.RawMessage
	groups map[string]*group
}

type group struct {
	resource json.RawMessage
	members  map[string]bool
}

// NewDirectory returns an empty mirror.
func NewDirectory() *Directory {
	return &Directory{users: map[string]json.RawMessage{}, groups: map[string]*group{}}
}

// Apply applies one event; it reports false for a redelivered one.
func (d *Directory) Apply(e eventlog.Event) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.Seq <= d.seq {
		return false
	}
	d.seq = e.Seq
	switch e.Type {
	case eventlog.UserCreated, eventlog.UserUpdated, eventlog.UserDeactivated, eventlog.UserReactivated:
		d.users[e.ResourceID] = e.Resource
	case eventlog.UserDeleted:
		delete(d.users, e.ResourceID)
	case eventlog.GroupCreated, eventlog.GroupUpdated:
		g := d.groups[e.ResourceID]
		if g == nil {
			g = &group{members: map[string]bool{}}
			d.groups[e.ResourceID] = g
		}
		g.resource = e.Resource
	case eventlog.GroupDeleted:
		delete(d.groups, e.ResourceID)
	case eventlog.GroupMemberAdded, eventlog.GroupMemberRemove:
		g := d.groups[e.ResourceID]
		if g == nil || e.Member == nil {
			break // membership of a group this mirror never saw created
		}
		if e.Type == eventlog.GroupMemberAdded {
			g.members[e.Member.Value] = true
		} else {
			delete(g.members, e.Member.Value)
		}
	}
	return true
}

// Snapshot is the mirror as GET /mirror serves it.
type Snapshot struct {
	// Seq is the cursor of the last applied event.
	Seq    int64                      `json:"seq"`
	Users  map[string]json.RawMessage `json:"users"`
	Groups map[string]GroupSnapshot   `json:"groups"`
}

// GroupSnapshot is a group and its member ids, sorted.
type GroupSnapshot struct {
	Resource json.RawMessage `json:"resource"`
	Members  []string        `json:"members"`
}

// Snapshot copies the mirror.
func (d *Directory) Snapshot() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Snapshot{Seq: d.seq, Users: make(map[string]json.RawMessage, len(d.users)), Groups: make(map[string]GroupSnapshot, len(d.groups))}
	for id, u := range d.users {
		s.Users[id] = u
	}
	for id, g := range d.groups {
		ms := make([]string, 0, len(g.members))
		for m := range g.members {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		s.Groups[id] = GroupSnapshot{Resource: g.resource, Members: ms}
	}
	return s
}

// Handler receives webhooks at POST /webhook and serves GET /mirror.
type Handler struct {
	Dir *Directory
	// Secrets returns the whsec_ signing secrets to accept, read on every
	// request so a rotated secret is picked up (during the operator's
	// grace window requests carry a signature for the old and the new one).
	Secrets func() []string
	// Now is the clock for the timestamp check; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	received int
	refused  int
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/mirror":
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h.Dir.Snapshot())
	case r.Method == http.MethodPost && r.URL.Path == "/webhook":
		h.receive(w, r)
	default:
		http.Error(w, "POST /webhook receives events; GET /mirror shows the directory", http.StatusNotFound)
	}
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(body, r.Header); err != nil {
		h.count(false)
		// 401 is a failure: the sender retries, and its status shows it.
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	// One event object, or a JSON array when the webhook batches.
	var events []eventlog.Event
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &events)
	} else {
		var e eventlog.Event
		err = json.Unmarshal(body, &e)
		events = []eventlog.Event{e}
	}
	if err != nil {
		http.Error(w, "body is not an event: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range events {
		h.Dir.Apply(e)
	}
	h.count(true)
	w.WriteHeader(http.StatusNoContent)
}

// verify accepts the request when any current secret verifies it,
// timestamp within 5 minutes of now included (replay protection).
func (h *Handler) verify(body []byte, hdr http.Header) error {
	secrets := h.Secrets()
	if len(secrets) == 0 {
		return errors.New("no signing secret configured")
	}
	err := errors.New("no secret")
	for _, s := range slices.Compact(secrets) {
		wh, e := standardwebhooks.NewWebhook(s)
		if e != nil {
			err = e
			continue
		}
		if err = wh.Verify(body, hdr); err == nil {
			return nil
		}
	}
	return err
}

func (h *Handler) count(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.received++
	} else {
		h.refused++
	}
}

// Counts reports accepted and refused requests.
func (h *Handler) Counts() (received, refused int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received, h.refused
}
