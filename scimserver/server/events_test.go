package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// clientPage is a feed page as a client decodes it.
type clientPage struct {
	Events []eventlog.Event `json:"events"`
	Next   int64            `json:"next"`
}

// feed reads one page of GET /v1/events with query q.
func (e *env) feed(q string) (*resp, clientPage) {
	e.t.Helper()
	r := e.do(req{method: http.MethodGet, path: "!" + EventsPath + "?" + q})
	var p clientPage
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.raw, &p); err != nil {
			e.t.Fatalf("feed body: %v\n%s", err, r.raw)
		}
	}
	return r, p
}

// eventsAfter reads every event after cursor, page by page, and returns
// them with the cursor to continue from.
func (e *env) eventsAfter(after int64) ([]eventlog.Event, int64) {
	e.t.Helper()
	var all []eventlog.Event
	for {
		r, p := e.feed(fmt.Sprintf("after=%d&limit=1000", after))
		r.want(e.t, http.StatusOK)
		all = append(all, p.Events...)
		if len(p.Events) == 0 {
			return all, p.Next
		}
		after = p.Next
	}
}

func (e *env) head() int64 {
	e.t.Helper()
	r := e.do(req{method: http.MethodGet, path: "!" + EventsHeadPath}).want(e.t, http.StatusOK)
	return int64(r.num(e.t, "/seq"))
}

// wantEvent is what a test expects of one event.
type wantEvent struct {
	typ, resourceID string
	member          string            // member events: the member's id
	changes         map[string]string // path -> previous JSON ("" = none)
	has, hasNot     []string          // JSON pointers present/absent in resource
}

func checkEvents(t *testing.T, got []eventlog.Event, want []wantEvent) {
	t.Helper()
	if len(got) != len(want) {
		var types []string
		for _, g := range got {
			types = append(types, g.Type+" "+g.ResourceID)
		}
		t.Fatalf("%d events %v, want %d", len(got), types, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || g.ResourceID != w.resourceID {
			t.Fatalf("event %d: %s %s, want %s %s", i, g.Type, g.ResourceID, w.typ, w.resourceID)
		}
		if i > 0 && g.Seq != got[i-1].Seq+1 {
			t.Fatalf("event %d: seq %d after %d", i, g.Seq, got[i-1].Seq)
		}
		if g.ID == "" || g.Time.IsZero() {
			t.Fatalf("event %d lacks id or time: %+v", i, g)
		}
		wantKind := "User"
		if strings.HasPrefix(w.typ, "group.") {
			wantKind = "Group"
		}
		if g.ResourceType != wantKind {
			t.Fatalf("event %d: resourceType %q, want %q", i, g.ResourceType, wantKind)
		}
		var res map[string]any
		if err := json.Unmarshal(g.Resource, &res); err != nil {
			t.Fatalf("event %d resource: %v", i, err)
		}
		if res["id"] != w.resourceID {
			t.Fatalf("event %d: resource id %v", i, res["id"])
		}
		if _, ok := at(res, "/meta/location"); !ok {
			t.Fatalf("event %d: resource without meta.location: %s", i, g.Resource)
		}
		if _, ok := res["members"]; ok {
			t.Fatalf("event %d: resource carries members: %s", i, g.Resource)
		}
		for _, p := range w.has {
			if _, ok := at(res, p); !ok {
				t.Fatalf("event %d: resource lacks %s: %s", i, p, g.Resource)
			}
		}
		for _, p := range w.hasNot {
			if _, ok := at(res, p); ok {
				t.Fatalf("event %d: resource has %s: %s", i, p, g.Resource)
			}
		}
		switch {
		case w.member != "" && (g.Member == nil || g.Member.Value != w.member || g.Member.Type != "User"):
			t.Fatalf("event %d: member %+v, want %s", i, g.Member, w.member)
		case w.member == "" && g.Member != nil:
			t.Fatalf("event %d: unexpected member %+v", i, g.Member)
		}
		gotChanges := map[string]string{}
		for _, c := range g.Changes {
			gotChanges[c.Path] = string(c.Previous)
		}
		if len(w.changes) > 0 || len(gotChanges) > 0 {
			if fmt.Sprint(gotChanges) != fmt.Sprint(w.changes) {
				t.Fatalf("event %d: changes %v, want %v", i, gotChanges, w.changes)
			}
			if !slices.IsSortedFunc(g.Changes, func(a, b eventlog.Change) int { return strings.Compare(a.Path, b.Path) }) {
				t.Fatalf("event %d: changes not sorted by path", i)
			}
		}
	}
}

// TestEventsFromEntraRequests drives Entra-shaped requests through the HTTP
// API and checks the exact events each one appends (and that failed writes
// append none).
func TestEventsFromEntraRequests(t *testing.T) {
	e := newEnv(t)
	ids := map[string]string{}
	created := func(name string, r *resp) *resp {
		r.want(t, http.StatusCreated)
		ids[name] = r.str(t, "/id")
		return r
	}
	id := func(name string) string { return ids[name] }
	pathless := func(v map[string]any) map[string]any { return op("Replace", "", v) }
	many := make([]string, 100)

	steps := []struct {
		name   string
		do     func() *resp
		status int
		want   func() []wantEvent
	}{
		{"POST user", func() *resp {
			return created("alice", e.post("/Users", user("alice@contoso.com",
				"name", map[string]any{"givenName": "Alice", "familyName": "Liddell"},
				"emails", []any{map[string]any{"type": "work", "value": "alice@contoso.com", "primary": true}},
				"password", "Hunter2-never-in-events",
				enterpriseURN, map[string]any{"department": "Sales"})))
		}, 201, func() []wantEvent {
			return []wantEvent{{typ: "user.created", resourceID: id("alice"),
				has:    []string{"/userName", "/name/givenName", "/" + enterpriseURN + "/department", "/schemas", "/meta/version"},
				hasNot: []string{"/password", "/groups"}}}
		}},
		{"POST second user", func() *resp { return created("bob", e.post("/Users", user("bob@contoso.com"))) },
			201, func() []wantEvent { return []wantEvent{{typ: "user.created", resourceID: id("bob")}} }},
		{"PATCH pathless dotted and URN keys", func() *resp {
			return e.patch("/Users/"+id("alice"), pathless(map[string]any{
				"name.givenName": "Alicia", enterpriseURN + ":department": "Marketing"}))
		}, 200, func() []wantEvent {
			return []wantEvent{{typ: "user.updated", resourceID: id("alice"), changes: map[string]string{
				"name.givenName": `"Alice"`, enterpriseURN + ":department": `"Sales"`}}}
		}},
		{"PATCH active False (string) deactivates", func() *resp {
			return e.patch("/Users/"+id("alice"), op("Replace", "active", "False"))
		}, 200, func() []wantEvent {
			return []wantEvent{{typ: "user.deactivated", resourceID: id("alice"), changes: map[string]string{"active": "true"}}}
		}},
		{"PATCH active true reactivates", func() *resp {
			return e.patch("/Users/"+id("alice"), op("replace", "active", true))
		}, 200, func() []wantEvent {
			return []wantEvent{{typ: "user.reactivated", resourceID: id("alice"), changes: map[string]string{"active": "false"}}}
		}},
		{"PATCH that changes nothing", func() *resp {
			return e.patch("/Users/"+id("alice"), op("Replace", "name.givenName", "Alicia"))
		}, 200, func() []wantEvent { return nil }},
		// The password is accepted and discarded, never stored: the
		// document does not change, so there is nothing to record.
		{"PATCH password: accepted, discarded, no event", func() *resp {
			return e.patch("/Users/"+id("alice"), op("Replace", "Password", "Hunter3-never-in-events"))
		}, 200, func() []wantEvent { return nil }},
		{"PATCH add filtered email path", func() *resp {
			return e.patch("/Users/"+id("alice"), op("Add", `emails[type eq "home"].value`, "alice@home.example"))
		}, 200, func() []wantEvent {
			return []wantEvent{{typ: "user.updated", resourceID: id("alice"), changes: map[string]string{
				"emails": `[{"primary":true,"type":"work","value":"alice@contoso.com"}]`}}}
		}},
		{"PATCH manager, then remove", func() *resp {
			e.patch("/Users/"+id("alice"), op("Add", enterpriseURN+":manager", id("bob"))).want(t, 200)
			return e.patch("/Users/"+id("alice"), op("Remove", enterpriseURN+":manager", nil))
		}, 200, func() []wantEvent {
			return []wantEvent{
				{typ: "user.updated", resourceID: id("alice"), changes: map[string]string{enterpriseURN + ":manager": ""}},
				{typ: "user.updated", resourceID: id("alice"), changes: map[string]string{enterpriseURN + ":manager": `{"value":"` + id("bob") + `"}`}},
			}
		}},
		{"PUT user", func() *resp {
			return e.do(req{method: http.MethodPut, path: "/Users/" + id("bob"), body: user("bob@contoso.com", "displayName", "Bob")})
		}, 200, func() []wantEvent {
			return []wantEvent{{typ: "user.updated", resourceID: id("bob"), changes: map[string]string{"displayName": ""}}}
		}},
		{"POST group with a member", func() *resp {
			return created("sales", e.post("/Groups", group("Sales", "members", []any{map[string]any{"value": id("alice")}})))
		}, 201, func() []wantEvent {
			return []wantEvent{
				{typ: "group.created", resourceID: id("sales"), has: []string{"/displayName"}},
				{typ: "group.member_added", resourceID: id("sales"), member: id("alice")},
			}
		}},
		{"POST 100 users", func() *resp {
			var r *resp
			for i := range many {
				r = e.post("/Users", user(fmt.Sprintf("u%03d@contoso.com", i))).want(t, 201)
				many[i] = r.str(t, "/id")
			}
			return r
		}, 201, func() []wantEvent {
			var w []wantEvent
			for _, u := range many {
				w = append(w, wantEvent{typ: "user.created", resourceID: u})
			}
			return w
		}},
		{"PATCH add 100 members in one op", func() *resp {
			var vals []any
			for _, u := range many {
				vals = append(vals, map[string]any{"value": u})
			}
			return e.patch("/Groups/"+id("sales"), op("Add", "members", vals))
		}, 204, func() []wantEvent {
			var w []wantEvent
			for _, u := range many {
				w = append(w, wantEvent{typ: "group.member_added", resourceID: id("sales"), member: u})
			}
			return w
		}},
		{"PATCH add an existing member and a new one", func() *resp {
			return e.patch("/Groups/"+id("sales"), op("Add", "members", []any{
				map[string]any{"value": id("alice")}, map[string]any{"value": id("bob")}}))
		}, 204, func() []wantEvent {
			return []wantEvent{{typ: "group.member_added", resourceID: id("sales"), member: id("bob")}}
		}},
		{"PATCH legacy removal (path members, value array) incl. a non-member", func() *resp {
			return e.patch("/Groups/"+id("sales"), op("Remove", "members", []any{
				map[string]any{"value": many[0]}, map[string]any{"value": many[0]}, map[string]any{"value": "not-a-member"}}))
		}, 204, func() []wantEvent {
			return []wantEvent{{typ: "group.member_removed", resourceID: id("sales"), member: many[0]}}
		}},
		{"PATCH compliant removal members[value eq]", func() *resp {
			return e.patch("/Groups/"+id("sales"), op("Remove", `members[value eq "`+id("alice")+`"]`, nil))
		}, 204, func() []wantEvent {
			return []wantEvent{{typ: "group.member_removed", resourceID: id("sales"), member: id("alice")}}
		}},
		{"PATCH group displayName", func() *resp {
			return e.patch("/Groups/"+id("sales"), op("Replace", "displayName", "Sales EMEA"))
		}, 204, func() []wantEvent {
			return []wantEvent{{typ: "group.updated", resourceID: id("sales"), changes: map[string]string{"displayName": `"Sales"`}}}
		}},
		{"POST small group", func() *resp {
			return created("ops", e.post("/Groups", group("Ops", "members", []any{
				map[string]any{"value": id("alice")}, map[string]any{"value": id("bob")}})))
		}, 201, func() []wantEvent {
			return []wantEvent{
				{typ: "group.created", resourceID: id("ops")},
				{typ: "group.member_added", resourceID: id("ops"), member: id("alice")},
				{typ: "group.member_added", resourceID: id("ops"), member: id("bob")},
			}
		}},
		{"PUT group replaces members: net changes only", func() *resp {
			return e.do(req{method: http.MethodPut, path: "/Groups/" + id("ops"), body: group("Ops", "members", []any{
				map[string]any{"value": id("bob")}, map[string]any{"value": many[1]}})})
		}, 200, func() []wantEvent {
			return []wantEvent{
				{typ: "group.member_removed", resourceID: id("ops"), member: id("alice")},
				{typ: "group.member_added", resourceID: id("ops"), member: many[1]},
			}
		}},
		{"PATCH replace members with an empty list", func() *resp {
			return e.patch("/Groups/"+id("ops"), op("Replace", "members", []any{}))
		}, 204, func() []wantEvent {
			return []wantEvent{
				{typ: "group.member_removed", resourceID: id("ops"), member: id("bob")},
				{typ: "group.member_removed", resourceID: id("ops"), member: many[1]},
			}
		}},
		{"DELETE a user in a group", func() *resp {
			return e.do(req{method: http.MethodDelete, path: "/Users/" + id("bob")})
		}, 204, func() []wantEvent {
			return []wantEvent{
				{typ: "group.member_removed", resourceID: id("sales"), member: id("bob"), has: []string{"/displayName"}},
				{typ: "user.deleted", resourceID: id("bob"), has: []string{"/userName", "/displayName"}},
			}
		}},
		{"DELETE a group", func() *resp {
			return e.do(req{method: http.MethodDelete, path: "/Groups/" + id("ops")})
		}, 204, func() []wantEvent { return []wantEvent{{typ: "group.deleted", resourceID: id("ops")}} }},

		// Failed writes append nothing.
		{"409 duplicate userName", func() *resp { return e.post("/Users", user("ALICE@contoso.com")) },
			409, func() []wantEvent { return nil }},
		{"400 malformed body", func() *resp { return e.post("/Users", `{"userName":`) },
			400, func() []wantEvent { return nil }},
		{"412 stale If-Match", func() *resp {
			return e.do(req{method: http.MethodPatch, path: "/Users/" + id("alice"), header: map[string]string{"If-Match": `W/"1"`},
				body: map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{op("Replace", "displayName", "Nope")}}})
		}, 412, func() []wantEvent { return nil }},
		{"400 PATCH rolled back: a valid member then an unknown one", func() *resp {
			return e.patch("/Groups/"+id("sales"), op("Add", "members", []any{
				map[string]any{"value": many[0]}, map[string]any{"value": "no-such-user"}}))
		}, 400, func() []wantEvent { return nil }},
		{"400 PATCH rolled back: second op fails", func() *resp {
			return e.patch("/Users/"+id("alice"), op("Replace", "displayName", "Rolled back"), op("Replace", "userName.x", "y"))
		}, 400, func() []wantEvent { return nil }},
		{"404 DELETE twice", func() *resp { return e.do(req{method: http.MethodDelete, path: "/Users/" + id("bob")}) },
			404, func() []wantEvent { return nil }},
	}
	var cursor int64
	for _, st := range steps {
		r := st.do()
		if r.status != st.status {
			t.Fatalf("%s: status %d, want %d: %s", st.name, r.status, st.status, r.raw)
		}
		got, next := e.eventsAfter(cursor)
		t.Run(st.name, func(t *testing.T) { checkEvents(t, got, st.want()) })
		if t.Failed() {
			t.FailNow()
		}
		cursor = next
	}
	if h := e.head(); h != cursor {
		t.Fatalf("head %d, last cursor %d", h, cursor)
	}

	// Nothing secret ever reaches the feed.
	_, all := e.feed("limit=1000")
	raw, _ := json.Marshal(all)
	for _, secret := range []string{"Hunter2", "Hunter3", writeToken, readToken, "sha256"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the feed contains %q", secret)
		}
	}
}

// TestEventsFeedAPI covers the feed's parameters, scope and errors.
func TestEventsFeedAPI(t *testing.T) {
	e := newEnv(t)
	if h := e.head(); h != 0 {
		t.Fatalf("head of an empty log is %d", h)
	}
	r, p := e.feed("")
	r.want(t, 200)
	if p.Events == nil || len(p.Events) != 0 || p.Next != 0 {
		t.Fatalf("empty log page: %s", r.raw)
	}
	for i := range 5 {
		e.post("/Users", user(fmt.Sprintf("f%d@contoso.com", i))).want(t, 201)
	}
	tests := []struct {
		query  string
		status int
		seqs   []int64
		next   int64
	}{
		{"", 200, []int64{1, 2, 3, 4, 5}, 5},
		{"after=0&limit=2", 200, []int64{1, 2}, 2},
		{"after=2&limit=2", 200, []int64{3, 4}, 4},
		{"after=4", 200, []int64{5}, 5},
		{"after=5", 200, nil, 5},
		{"after=5&wait=0", 200, nil, 5},
		{"limit=100000", 200, []int64{1, 2, 3, 4, 5}, 5}, // lowered to 1000
		{"after=3&unknown=1", 200, []int64{4, 5}, 5},
		{"after=6", 410, nil, 0}, // ahead of the log
		{"after=-1", 400, nil, 0},
		{"after=x", 400, nil, 0},
		{"limit=0", 400, nil, 0},
		{"limit=ten", 400, nil, 0},
		{"wait=-1s", 400, nil, 0},
		{"wait=forever", 400, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r, p := e.feed(tc.query)
			r.want(t, tc.status)
			if tc.status != 200 {
				if r.json["scimType"] != "invalidValue" {
					t.Fatalf("scimType %v", r.json["scimType"])
				}
				return
			}
			var seqs []int64
			for _, ev := range p.Events {
				seqs = append(seqs, ev.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tc.seqs) || p.Next != tc.next {
				t.Fatalf("seqs %v next %d, want %v next %d", seqs, p.Next, tc.seqs, tc.next)
			}
		})
	}
	if h := e.head(); h != 5 {
		t.Fatalf("head %d", h)
	}
	// The read scope suffices; no token is 401; the feed only reads.
	e.do(req{method: http.MethodGet, path: "!" + EventsPath, token: strp(readToken)}).want(t, 200)
	e.do(req{method: http.MethodGet, path: "!" + EventsHeadPath, token: strp(readToken)}).want(t, 200)
	e.do(req{method: http.MethodGet, path: "!" + EventsPath, token: strp("")}).want(t, 401)
	e.do(req{method: http.MethodGet, path: "!" + EventsPath, token: strp(expiredToken)}).want(t, 401)
	e.do(req{method: http.MethodPost, path: "!" + EventsPath}).want(t, 405)
	m := string(e.get("/metrics").raw)
	for _, want := range []string{`resource="events"`, "scim_events_head 5", "scim_events_pruned_total 0"} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
}

// TestEventsLongPollWakesOnWrite starts a long poll, writes once it is
// waiting, and gets the event: the commit wakes it, nothing polls.
func TestEventsLongPollWakesOnWrite(t *testing.T) {
	e := newEnv(t)
	type result struct {
		r *resp
		p clientPage
	}
	done := make(chan result, 1)
	go func() {
		r, p := e.feed("after=0&wait=60s")
		done <- result{r, p}
	}()
	for e.store.EventWaiters() == 0 { // the request is blocked in WaitEvents
		runtime.Gosched()
	}
	id := e.post("/Users", user("wake@contoso.com")).want(t, 201).str(t, "/id")
	res := <-done
	res.r.want(t, 200)
	if len(res.p.Events) != 1 || res.p.Events[0].ResourceID != id || res.p.Next != 1 {
		t.Fatalf("long poll answered %s", res.r.raw)
	}

	// A poll whose wait ends with no event answers an empty page with the
	// same cursor; the reader's Wait ends with its context.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Events().Wait(ctx, 1) }()
	for e.store.EventWaiters() == 0 {
		runtime.Gosched()
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Wait after cancel: %v", err)
	}
}

// TestEventsPruneAndExpiredCursor prunes with the injected clock and checks
// the 410 an expired cursor gets, with the resync steps.
func TestEventsPruneAndExpiredCursor(t *testing.T) {
	cfg := config.Default()
	cfg.Events.Retention = config.Duration(48 * time.Hour)
	e := newEnv(t, withConfig(cfg))
	for i := range 3 {
		e.post("/Users", user(fmt.Sprintf("old%d@contoso.com", i))).want(t, 201)
	}
	if n, err := e.srv.PruneEvents(context.Background()); err != nil || n != 0 {
		t.Fatalf("prune within retention: %d %v", n, err)
	}
	e.clock.Advance(49 * time.Hour)
	for i := range 2 {
		e.post("/Users", user(fmt.Sprintf("new%d@contoso.com", i))).want(t, 201)
	}
	if n, err := e.srv.PruneEvents(context.Background()); err != nil || n != 3 {
		t.Fatalf("prune: %d %v, want 3", n, err)
	}
	for _, after := range []string{"1", "2"} {
		r, _ := e.feed("after=" + after)
		r.want(t, http.StatusGone)
		detail, _ := r.json["detail"].(string)
		for _, step := range []string{EventsHeadPath, "/Users", "/Groups", EventsPath + "?after="} {
			if !strings.Contains(detail, step) {
				t.Fatalf("410 detail lacks %q: %s", step, detail)
			}
		}
	}
	for q, first := range map[string]int64{"": 4, "after=0": 4, "after=3": 4, "after=4": 5} {
		r, p := e.feed(q)
		r.want(t, 200)
		if len(p.Events) == 0 || p.Events[0].Seq != first {
			t.Fatalf("%q: %s", q, r.raw)
		}
	}
	// The reader webhook delivery uses says the same.
	if _, err := e.srv.Events().Read(context.Background(), 1, 10); err == nil || !strings.Contains(err.Error(), "pruned") {
		t.Fatalf("Read(1): %v", err)
	}
	// Pruning keeps the newest event, so the head and cursors survive a
	// quiet tenant.
	e.clock.Advance(49 * time.Hour)
	if n, err := e.srv.PruneEvents(context.Background()); err != nil || n != 1 {
		t.Fatalf("prune all but the newest: %d %v", n, err)
	}
	r, p := e.feed("")
	r.want(t, 200)
	if len(p.Events) != 1 || p.Events[0].Seq != 5 || p.Next != 5 || e.head() != 5 {
		t.Fatalf("log pruned to its newest event: %s", r.raw)
	}
	if r, _ := e.feed("after=4"); r.status != 200 {
		t.Fatalf("after=4: %s", r.raw)
	}
	if r, _ := e.feed("after=3"); r.status != 410 {
		t.Fatalf("after=3 of a pruned log: %s", r.raw)
	}
	e.post("/Users", user("after-prune@contoso.com")).want(t, 201)
	if _, p := e.feed("after=5"); len(p.Events) != 1 || p.Events[0].Seq != 6 {
		t.Fatalf("seq after pruning: %+v", p)
	}
}

// TestEventsConcurrentWriters writes from several clients at once: every
// acknowledged create has exactly one event, seqs have no gap.
func TestEventsConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	const writers, each = 8, 25
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := e.post("/Users", user(fmt.Sprintf("w%d-%d@contoso.com", w, i)))
				if r.status != 201 {
					t.Errorf("POST: %d", r.status)
					return
				}
				mu.Lock()
				acked[r.str(t, "/id")] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	evs, _ := e.eventsAfter(0)
	if len(evs) != writers*each {
		t.Fatalf("%d events for %d creates", len(evs), writers*each)
	}
	seen := map[string]bool{}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if ev.Type != eventlog.UserCreated || !acked[ev.ResourceID] || seen[ev.ResourceID] || seen[ev.ID] {
			t.Fatalf("event %+v: unexpected or duplicate", ev)
		}
		seen[ev.ResourceID], seen[ev.ID] = true, true
	}
}

// TestEventsRenderedLikeSCIM: an event's resource is what GET returns
// (without groups/members), with the external URL in locations.
func TestEventsRenderedLikeSCIM(t *testing.T) {
	cfg := config.Default()
	cfg.ExternalURL = "https://scim.example.com/acme/scim/v2"
	cfg.BasePath = basePath // the ingress strips /acme; the test client addresses /scim/v2
	e := newEnv(t, withConfig(cfg))
	id := e.post("/Users", user("render@contoso.com", "displayName", "R")).want(t, 201).str(t, "/id")
	got := e.get("/Users/"+id).want(t, 200)
	evs, err := e.srv.Events().Read(context.Background(), 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Read: %v %d", err, len(evs))
	}
	var fromEvent map[string]any
	dec := json.NewDecoder(bytes.NewReader(evs[0].Resource))
	dec.UseNumber()
	if err := dec.Decode(&fromEvent); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fromEvent) != fmt.Sprint(got.json) {
		t.Fatalf("event resource\n%v\nGET\n%v", fromEvent, got.json)
	}
	if loc, _ := at(fromEvent, "/meta/location"); loc != "https://scim.example.com/acme/scim/v2/Users/"+id {
		t.Fatalf("location %v", loc)
	}
}

func FuzzParseFeedQuery(f *testing.F) {
	for _, seed := range []string{"", "after=0", "after=12&limit=1000&wait=60", "wait=30s", "wait=1h", "limit=-1",
		"after=9223372036854775807", "after=9223372036854775808", "wait=9999999999999", "limit=1e3", "after=%zz", "wait=1.5s&wait=2s"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fq, err := parseFeedQuery(q)
		if err != nil {
			if _, ok := err.(interface{ Error() string }); !ok {
				t.Fatal("error without text")
			}
			return
		}
		if fq.after < 0 || fq.limit < 1 || fq.limit > MaxFeedLimit || fq.wait < 0 || fq.wait > MaxFeedWait {
			t.Fatalf("%q parsed out of bounds: %+v", raw, fq)
		}
	})
}

// The feed reads: a token without the read scope is refused with 403.
func TestEventsFeedNeedsReadScope(t *testing.T) {
	const writeOnly = "scim_test_write_only"
	e := newEnv(t, func(o *Options) {
		k, err := auth.NewStaticKeyring(&auth.TokenFile{Tokens: []auth.TokenEntry{
			{Name: "reader", SHA256: auth.Hash(readToken), Scopes: []string{auth.ScopeRead}},
			{Name: "writer", SHA256: auth.Hash(writeOnly), Scopes: []string{auth.ScopeWrite}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Keyring = k
	})
	for _, path := range []string{EventsPath, EventsHeadPath} {
		r := e.do(req{method: http.MethodGet, path: "!" + path, token: strp(writeOnly)}).want(t, http.StatusForbidden)
		if d, _ := r.json["detail"].(string); !strings.Contains(d, "read scope") {
			t.Fatalf("403 detail %q", d)
		}
		e.do(req{method: http.MethodGet, path: "!" + path, token: strp(readToken)}).want(t, http.StatusOK)
	}
}
