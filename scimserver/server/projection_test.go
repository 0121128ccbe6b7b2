package server

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// memberCountingStore counts the group members the server has the store
// load, like the fault-injecting wrappers in behaviour_test.go: a request
// that loads a 100,000-member group only to drop the members from its
// answer passes every test that looks at the answer alone.
type memberCountingStore struct {
	store.Store
	asked  atomic.Int64 // Get and List calls asking for members
	loaded atomic.Int64 // members handed to the server (returned or matched on)
}

func (c *memberCountingStore) Get(ctx context.Context, kind store.Kind, id string, members bool) (*store.Resource, error) {
	if members {
		c.asked.Add(1)
	}
	r, err := c.Store.Get(ctx, kind, id, members)
	if r != nil {
		c.loaded.Add(int64(len(r.Members)))
	}
	return r, err
}

func (c *memberCountingStore) List(ctx context.Context, kind store.Kind, q store.Query) (*store.Page, error) {
	if q.Members || q.MatchMembers {
		c.asked.Add(1)
	}
	if match := q.Match; match != nil {
		q.Match = func(r *store.Resource) bool {
			c.loaded.Add(int64(len(r.Members)))
			return match(r)
		}
	}
	p, err := c.Store.List(ctx, kind, q)
	if p != nil {
		for _, r := range p.Resources {
			c.loaded.Add(int64(len(r.Members)))
		}
	}
	return p, err
}

func (c *memberCountingStore) reset() { c.asked.Store(0); c.loaded.Store(0) }

// TestExcludedMembersLoadsNoMembers: Entra reads groups with
// excludedAttributes=members (and other clients with attributes= lists
// without members); none of those may load a single member.
func TestExcludedMembersLoadsNoMembers(t *testing.T) {
	counting := &memberCountingStore{}
	e := newEnv(t, func(o *Options) { counting.Store = o.Store; o.Store = counting })
	const size = 25
	var members []any
	for i := range size {
		id := e.post("/Users", user(fmt.Sprintf("m%d@contoso.com", i))).want(t, 201).str(t, "/id")
		members = append(members, map[string]any{"value": id})
	}
	gid := e.post("/Groups", group("Big", "members", members)).want(t, 201).str(t, "/id")
	extra := e.post("/Users", user("extra@contoso.com")).want(t, 201).str(t, "/id")

	search := func(path string, body map[string]any) req {
		return req{method: http.MethodPost, path: path, body: body}
	}
	for _, tc := range []struct {
		name string
		r    req
		want int
	}{
		{"get by id", req{method: "GET", path: "/Groups/" + gid + "?excludedAttributes=members"}, 200},
		{"get by id, urn-qualified", req{method: "GET", path: "/Groups/" + gid + "?excludedAttributes=urn:ietf:params:scim:schemas:core:2.0:Group:members"}, 200},
		{"get by id, attributes without members", req{method: "GET", path: "/Groups/" + gid + "?attributes=displayName"}, 200},
		{"Entra's match query", req{method: "GET", path: "/Groups?excludedAttributes=members&filter=displayName+eq+%22Big%22"}, 200},
		{"list", req{method: "GET", path: "/Groups?excludedAttributes=members"}, 200},
		{"list sorted", req{method: "GET", path: "/Groups?excludedAttributes=members&sortBy=displayName"}, 200},
		{"list, attributes without members", req{method: "GET", path: "/Groups?attributes=displayName,externalId"}, 200},
		{"search", search("/Groups/.search", map[string]any{"excludedAttributes": []string{"members"}, "filter": `displayName eq "big"`}), 200},
		{"root search", search("/.search", map[string]any{"excludedAttributes": []string{"members"}, "filter": `displayName eq "Big"`}), 200},
		{"patch add member", req{method: "PATCH", path: "/Groups/" + gid, body: map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{op("Add", "members", []any{map[string]any{"value": extra}})}}}, 204},
		{"patch remove member", req{method: "PATCH", path: "/Groups/" + gid, body: map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{op("remove", `members[value eq "`+extra+`"]`, nil)}}}, 204},
		{"put without members", req{method: "PUT", path: "/Groups/" + gid + "?excludedAttributes=members", body: group("Big")}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counting.reset()
			r := e.do(tc.r).want(t, tc.want)
			if asked, loaded := counting.asked.Load(), counting.loaded.Load(); asked != 0 || loaded != 0 {
				t.Fatalf("%d store calls asked for members, %d members loaded; want none", asked, loaded)
			}
			if _, has := at(r.json, "/members"); has {
				t.Fatalf("members in the answer: %s", r.raw)
			}
			if _, has := at(r.json, "/Resources/0/members"); has {
				t.Fatalf("members in the answer: %s", r.raw)
			}
		})
	}

	// The counter counts: a read that wants the members loads each once,
	// and the PUT above (no "members") kept them.
	counting.reset()
	r := e.get("/Groups/"+gid).want(t, 200)
	if got := counting.loaded.Load(); got != size {
		t.Fatalf("GET with members loaded %d members, want %d", got, size)
	}
	if ms, _ := at(r.json, "/members"); len(ms.([]any)) != size {
		t.Fatalf("members in the answer: %v", ms)
	}
}
