package server

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// StatusPath serves the tenant's status document for the operator, outside
// the SCIM base path. Only tokens with the status scope may read it.
const StatusPath = statusdoc.StatusPath

// Bounds of what unknown attributes may cost: a client inventing a new
// name per request must not grow memory, metric series or logs without end.
const (
	// maxUnknownNames distinct (resource type, name) pairs are tracked,
	// counted and logged by name; later ones share otherUnknown.
	maxUnknownNames = 100
	// maxUnknownNameBytes clips a name before it becomes a label.
	maxUnknownNameBytes = 200
	// otherUnknown is the name standing for every name past the bound.
	otherUnknown = "_other_"
)

// Actions of the scim_unknown_attributes_total counter.
const (
	unknownIgnored  = "ignored"
	unknownRejected = "rejected"
)

// unknownAttrs makes attributes no served schema defines visible: a
// Prometheus counter by name, one log line per name per process, and the
// set GET /v1/status reports to the operator. Ignoring them (the default)
// is what Microsoft's tests expect, but an admin who maps a custom
// attribute without declaring it must be able to see that it is lost.
type unknownAttrs struct {
	counter *prometheus.CounterVec
	log     *slog.Logger

	mu       sync.Mutex
	seen     map[unknownKey]*unknownEntry
	overflow bool // logged that the bound was reached
}

type unknownKey struct{ resource, name, action string }

type unknownEntry struct {
	count    int64
	lastSeen time.Time
}

func newUnknownAttrs(reg prometheus.Registerer, log *slog.Logger) *unknownAttrs {
	u := &unknownAttrs{
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_unknown_attributes_total",
			Help: "Attributes a request carried that no served schema defines, by resource type, attribute " +
				"(at most 100 names, then _other_) and action (ignored: dropped from a write that succeeded; rejected: answered 400).",
		}, []string{"resource", "attribute", "action"}),
		log:  log,
		seen: map[unknownKey]*unknownEntry{},
	}
	reg.MustRegister(u.counter)
	return u
}

// record counts names of one request's resource type.
func (u *unknownAttrs) record(resource, action string, names []string, now time.Time) {
	if len(names) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, n := range names {
		k := unknownKey{resource: resource, name: clipName(n), action: action}
		e := u.seen[k]
		if e == nil {
			if len(u.seen) >= maxUnknownNames {
				k.name = otherUnknown
				if !u.overflow {
					u.overflow = true
					u.log.Warn("Unknown attributes: more distinct names than tracked; later names are counted as "+otherUnknown,
						"limit", maxUnknownNames, "attribute", n, "resourceType", resource)
				}
				if e = u.seen[k]; e == nil {
					e = &unknownEntry{}
					u.seen[k] = e
				}
			} else {
				e = &unknownEntry{}
				u.seen[k] = e
				u.log.Warn("Unknown attribute "+action+": no schema this tenant serves defines it; declare it in the ScimTenant's spec.schema.extensions to keep it",
					"attribute", k.name, "resourceType", resource, "action", action)
			}
		}
		e.count++
		e.lastSeen = now
		u.counter.WithLabelValues(resource, k.name, action).Inc()
	}
}

// clipName bounds a name (a key a client chose) at a rune boundary.
func clipName(n string) string {
	if len(n) <= maxUnknownNameBytes {
		return n
	}
	i := maxUnknownNameBytes
	for i > 0 && !utf8.RuneStart(n[i]) {
		i--
	}
	return n[:i] + "…"
}

// snapshot lists the tracked names by action, sorted by resource type and
// name.
func (u *unknownAttrs) snapshot() (dropped, rejected []statusdoc.UnknownAttr) {
	u.mu.Lock()
	defer u.mu.Unlock()
	dropped, rejected = []statusdoc.UnknownAttr{}, []statusdoc.UnknownAttr{}
	for k, e := range u.seen {
		a := statusdoc.UnknownAttr{Name: k.name, ResourceType: k.resource, Count: e.count, LastSeen: e.lastSeen.UTC()}
		if k.action == unknownRejected {
			rejected = append(rejected, a)
		} else {
			dropped = append(dropped, a)
		}
	}
	for _, l := range [][]statusdoc.UnknownAttr{dropped, rejected} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].ResourceType != l[j].ResourceType {
				return l[i].ResourceType < l[j].ResourceType
			}
			return l[i].Name < l[j].Name
		})
	}
	return dropped, rejected
}

// unknownCollector is the schema.UnknownFunc of one request: in Ignore mode
// it collects names, to be counted once the write succeeds (a failed write
// dropped nothing); in Reject mode the first name fails the request.
type unknownCollector struct {
	s     *Server
	rt    *schema.ResourceType
	names []string
}

func (s *Server) unknownFor(rt *schema.ResourceType) *unknownCollector {
	return &unknownCollector{s: s, rt: rt}
}

// report is the schema.UnknownFunc.
func (c *unknownCollector) report(name string) error {
	if !c.s.cfg.RejectsUnknown() {
		c.names = append(c.names, name)
		return nil
	}
	c.s.unknown.record(c.rt.Name, unknownRejected, []string{name}, c.s.now())
	return scimerr.BadRequest(scimerr.InvalidValue, "%s", rejectDetail(c.rt, name))
}

// reset forgets what an attempt collected (a store transaction may run its
// update function again).
func (c *unknownCollector) reset() { c.names = c.names[:0] }

// done counts what a successful write dropped.
func (c *unknownCollector) done() {
	c.s.unknown.record(c.rt.Name, unknownIgnored, c.names, c.s.now())
}

// rejectDetail says which attribute was refused and how to keep it.
func rejectDetail(rt *schema.ResourceType, name string) string {
	const why = "this tenant rejects attributes no schema defines (ScimTenant spec.schema.unknownAttributes: Reject)"
	if rt.Name != "User" {
		return fmt.Sprintf("attribute %q is not defined for %s resources and %s; stop sending it (remove its mapping in the identity provider) or set unknownAttributes to Ignore",
			name, rt.Name, why)
	}
	if !strings.HasPrefix(strings.ToLower(name), "urn:") && strings.Contains(name, ".") {
		return fmt.Sprintf("sub-attribute %q is not defined for User resources and %s; core attributes cannot gain sub-attributes: map the value to an attribute of a custom extension declared in the ScimTenant's spec.schema.extensions, or remove the mapping in the identity provider",
			name, why)
	}
	if len(name) > 4 && strings.EqualFold(name[:4], "urn:") {
		if i := strings.LastIndexByte(name, ':'); i > 4 {
			return fmt.Sprintf("attribute %q is not defined for User resources and %s; declare extension %q with attribute %q in the ScimTenant's spec.schema.extensions, or remove its mapping in the identity provider",
				name, why, name[:i], name[i+1:])
		}
	}
	return fmt.Sprintf("attribute %q is not defined for User resources and %s; declare it as an attribute of a custom extension in the ScimTenant's spec.schema.extensions (a bare name resolves to a declared extension attribute), or remove its mapping in the identity provider",
		name, why)
}
