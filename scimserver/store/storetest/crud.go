package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	. "github.com/scim-operator/scim-operator/scimserver/store"
)

func testCreateGetRoundTrip(t *testing.T, b Backend) {
	c := newClock()
	s := b.open(t, c.now)
	ctx := context.Background()
	doc := map[string]any{
		"userName":   "jdoe@contoso.com",
		"externalId": "jdoe",
		"active":     false,
		"name":       map[string]any{"givenName": "J", "familyName": "Doe"},
		"emails":     []any{map[string]any{"type": "work", "value": "jdoe@contoso.com", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
			"employeeNumber": "42", "manager": map[string]any{"value": "boss"},
		},
		"big": json.Number("12345678901234567890"),
	}
	r := &Resource{Kind: User, ID: "id-1", Doc: doc}
	mustCreate(t, s, r)
	if r.Version != 1 || !r.Created.Equal(c.now()) || !r.LastModified.Equal(c.now()) {
		t.Fatalf("Create set version %d created %v modified %v", r.Version, r.Created, r.LastModified)
	}
	got, err := s.Get(ctx, User, "id-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Doc, doc) {
		t.Errorf("doc round trip:\n got %#v\nwant %#v", got.Doc, doc)
	}
	if got.Kind != User || got.ID != "id-1" || got.Version != 1 || !got.Created.Equal(c.now()) {
		t.Errorf("got %+v", got)
	}
	if got.Members != nil {
		t.Errorf("user has members %v", got.Members)
	}
	// Ids are case-exact: a differently cased id is another resource.
	if _, err := s.Get(ctx, User, "ID-1", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get ID-1: %v, want ErrNotFound", err)
	}
	// A user is not a group.
	if _, err := s.Get(ctx, Group, "id-1", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get as Group: %v, want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, b Backend) {
	c := newClock()
	s := b.open(t, c.now)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a@x"))
	created := c.now()
	c.advance(time.Minute)

	got, err := s.Update(ctx, User, "u1", func(cur *Resource) (map[string]any, []MemberOp, error) {
		if cur.Version != 1 || cur.Doc["userName"] != "a@x" {
			t.Errorf("mutate saw %+v", cur)
		}
		cur.Doc["userName"] = "b@x"
		cur.Doc["active"] = false
		return cur.Doc, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || !got.LastModified.Equal(c.now()) || !got.Created.Equal(created) {
		t.Errorf("Update returned version %d modified %v created %v", got.Version, got.LastModified, got.Created)
	}
	re, err := s.Get(ctx, User, "u1", false)
	if err != nil {
		t.Fatal(err)
	}
	if re.Doc["userName"] != "b@x" || re.Doc["active"] != false || re.Version != 2 || !re.LastModified.Equal(c.now()) {
		t.Errorf("after update: %+v", re)
	}
	// The index follows the document: the old name is free, the new one taken.
	mustCreate(t, s, userRes("u2", "A@X"))
	if err := s.Create(ctx, userRes("u3", "B@X")); !isConflict(err) {
		t.Errorf("create with renamed-to name: %v, want 409", err)
	}

	if _, err := s.Update(ctx, User, "nope", func(*Resource) (map[string]any, []MemberOp, error) {
		t.Error("mutate called for a missing resource")
		return nil, nil, nil
	}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update missing: %v, want ErrNotFound", err)
	}
}

// An update answers the indexed lookups for its new document and no
// longer for its old one, whichever indexed attributes it changes (a
// backend may skip rewriting the index entries that did not change).
func testUpdateKeepsIndexes(t *testing.T, b Backend) {
	before := map[string]any{"userName": "a@x", "externalId": "ext-a", "displayName": "Alice", "title": "t0"}
	tests := []struct {
		name   string
		kind   Kind
		before map[string]any
		change map[string]any // nil value: remove the attribute
	}{
		{"user: a non-indexed attribute", User, before, map[string]any{"title": "t1"}},
		{"user: nothing", User, before, map[string]any{}},
		{"user: userName", User, before, map[string]any{"userName": "b@x"}},
		{"user: userName case only", User, before, map[string]any{"userName": "A@X"}},
		{"user: externalId", User, before, map[string]any{"externalId": "ext-b"}},
		{"user: externalId removed", User, before, map[string]any{"externalId": nil}},
		{"user: displayName", User, before, map[string]any{"displayName": "Bob"}},
		{"user: displayName case only", User, before, map[string]any{"displayName": "ALICE"}},
		{"user: displayName added", User, map[string]any{"userName": "a@x"}, map[string]any{"displayName": "Bob"}},
		{"user: everything", User, before, map[string]any{"userName": "b@x", "externalId": "ext-b", "displayName": "Bob", "title": "t1"}},
		{"group: displayName", Group, map[string]any{"displayName": "Sales", "externalId": "g-ext"}, map[string]any{"displayName": "Eng"}},
		{"group: externalId", Group, map[string]any{"displayName": "Sales", "externalId": "g-ext"}, map[string]any{"externalId": "g-ext2"}},
		{"group: nothing", Group, map[string]any{"displayName": "Sales", "externalId": "g-ext"}, map[string]any{}},
	}
	lookups := func(kind Kind, doc map[string]any) []Lookup {
		var out []Lookup
		for _, attr := range []string{"userName", "externalId", "displayName"} {
			if attr == "userName" && kind != User {
				continue
			}
			if v, ok := doc[attr].(string); ok {
				out = append(out, Lookup{Attr: attr, Value: v})
			}
		}
		return out
	}
	find := func(t *testing.T, s Store, kind Kind, l Lookup) []string {
		t.Helper()
		p, err := s.List(context.Background(), kind, Query{Lookup: &l, Count: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Resources {
			ids = append(ids, r.ID)
		}
		return ids
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := b.open(t, nil)
			ctx := context.Background()
			doc := map[string]any{}
			for k, v := range tc.before {
				doc[k] = v
			}
			mustCreate(t, s, &Resource{Kind: tc.kind, ID: "r1", Doc: doc})
			after := map[string]any{}
			for k, v := range tc.before {
				after[k] = v
			}
			for k, v := range tc.change {
				if v == nil {
					delete(after, k)
				} else {
					after[k] = v
				}
			}
			if _, err := s.Update(ctx, tc.kind, "r1", func(cur *Resource) (map[string]any, []MemberOp, error) {
				// In place, as a caller may.
				for k := range cur.Doc {
					delete(cur.Doc, k)
				}
				for k, v := range after {
					cur.Doc[k] = v
				}
				return cur.Doc, nil, nil
			}); err != nil {
				t.Fatal(err)
			}
			for _, l := range lookups(tc.kind, after) {
				if got := find(t, s, tc.kind, l); !reflect.DeepEqual(got, []string{"r1"}) {
					t.Errorf("lookup %s %q after the update: %v, want [r1]", l.Attr, l.Value, got)
				}
			}
			for _, l := range lookups(tc.kind, tc.before) {
				if strings.EqualFold(l.Value, fmtString(after[l.Attr])) && (l.Attr != "externalId" || l.Value == after[l.Attr]) {
					continue
				}
				if got := find(t, s, tc.kind, l); len(got) != 0 {
					t.Errorf("lookup %s %q (the old value) after the update: %v, want none", l.Attr, l.Value, got)
				}
			}
		})
	}
}

func fmtString(v any) string {
	s, _ := v.(string)
	return s
}

func testUpdateMutateErrorWritesNothing(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), groupRes("g", "G", "u1"))
	boom := scimerr.BadRequest(scimerr.NoTarget, "boom")

	_, err := s.Update(ctx, Group, "g", func(cur *Resource) (map[string]any, []MemberOp, error) {
		cur.Doc["displayName"] = "changed"
		return cur.Doc, []MemberOp{ops(MemberClear)}, boom
	})
	if err != boom {
		t.Fatalf("Update error %v, want the mutate error as is", err)
	}
	g, _ := s.Get(ctx, Group, "g", true)
	if g.Doc["displayName"] != "G" || g.Version != 1 || len(g.Members) != 1 {
		t.Errorf("after failed mutate: %+v", g)
	}

	// A failing member op (unknown user) after a successful one rolls back
	// the document and the earlier ops too.
	_, err = s.Update(ctx, Group, "g", func(cur *Resource) (map[string]any, []MemberOp, error) {
		cur.Doc["displayName"] = "changed"
		return cur.Doc, []MemberOp{ops(MemberAdd, "u2"), ops(MemberRemove, "u1"), ops(MemberAdd, "ghost")}, nil
	})
	e, ok := scimerr.As(err)
	if !ok || e.Status != http.StatusBadRequest || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, `"ghost"`) {
		t.Fatalf("Update with unknown member: %v", err)
	}
	g, _ = s.Get(ctx, Group, "g", true)
	if g.Doc["displayName"] != "G" || g.Version != 1 || !reflect.DeepEqual(memberIDs(t, s, "g"), []string{"u1"}) {
		t.Errorf("after failed member op: %+v", g)
	}
}

func testUniqueness(t *testing.T, b Backend) {
	tests := []struct {
		name       string
		first, dup *Resource
		conflict   bool
		detail     string
	}{
		{"userName same", userRes("a", "jdoe@contoso.com"), userRes("b", "jdoe@contoso.com"), true,
			`userName "jdoe@contoso.com" is already taken by another User`},
		{"userName ASCII case", userRes("a", "jdoe@contoso.com"), userRes("b", "JDoe@Contoso.COM"), true,
			`userName "JDoe@Contoso.COM" is already taken by another User`},
		{"userName Unicode case", userRes("a", "ÅSA.ÖSTRÖM@x"), userRes("b", "åsa.öström@x"), true, "userName"},
		{"userName Greek final sigma", userRes("a", "ΟΔΥΣΣΕΥΣ"), userRes("b", "οδυσσευς"), true, "userName"},
		{"userName Kelvin sign", userRes("a", "\u212aelvin"), userRes("b", "kelvin"), true, "userName"},
		{"userName different", userRes("a", "a@x"), userRes("b", "b@x"), false, ""},
		{"displayName group case", groupRes("g1", "Sales"), groupRes("g2", "SALES"), true,
			`displayName "SALES" is already taken by another Group`},
		{"displayName group Unicode", groupRes("g1", "Ärzte"), groupRes("g2", "äRZTE"), true, "displayName"},
		{"displayName users may repeat", &Resource{Kind: User, ID: "a", Doc: map[string]any{"userName": "a", "displayName": "Jo"}},
			&Resource{Kind: User, ID: "b", Doc: map[string]any{"userName": "b", "displayName": "Jo"}}, false, ""},
		{"group and user share a name", userRes("a", "Sales"), groupRes("g", "Sales"), false, ""},
		{"externalId not unique",
			&Resource{Kind: User, ID: "a", Doc: map[string]any{"userName": "a", "externalId": "jdoe"}},
			&Resource{Kind: User, ID: "b", Doc: map[string]any{"userName": "b", "externalId": "jdoe"}}, false, ""},
		{"id same kind", userRes("a", "a"), userRes("a", "b"), true, `id "a"`},
		{"id across kinds", userRes("a", "a"), groupRes("a", "A"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := b.open(t, nil)
			mustCreate(t, s, tc.first)
			err := s.Create(context.Background(), tc.dup)
			if !tc.conflict {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				return
			}
			if !isConflict(err) {
				t.Fatalf("Create: %v, want 409 uniqueness", err)
			}
			if e, _ := scimerr.As(err); !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", e.Detail, tc.detail)
			}
			// The loser left nothing behind.
			if _, err := s.Get(context.Background(), tc.dup.Kind, tc.dup.ID, false); tc.dup.ID != tc.first.ID && !errors.Is(err, ErrNotFound) {
				t.Errorf("duplicate was stored: %v", err)
			}
		})
	}
}

func testDelete(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), userRes("u3", "c"),
		groupRes("g1", "G1", "u1", "u2"), groupRes("g2", "G2", "u1", "u3"))

	if err := s.Delete(ctx, User, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, User, "u1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, Group, "u2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete user as group: %v, want ErrNotFound", err)
	}
	// Cascade: u1 left every group.
	if got := memberIDs(t, s, "g1"); !reflect.DeepEqual(got, []string{"u2"}) {
		t.Errorf("g1 members %v", got)
	}
	if got := memberIDs(t, s, "g2"); !reflect.DeepEqual(got, []string{"u3"}) {
		t.Errorf("g2 members %v", got)
	}
	// The freed userName can be reused; the re-created user is in no group.
	mustCreate(t, s, userRes("u1", "A"))
	if got, _ := s.GroupsOf(ctx, []string{"u1"}); len(got["u1"]) != 0 {
		t.Errorf("recreated user in groups %v", got)
	}
	// Deleting a group drops its rows but not the users.
	if err := s.Delete(ctx, Group, "g1"); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, s, `SELECT COUNT(*) FROM members`); n != 1 {
		t.Errorf("member rows after group delete: %d, want 1", n)
	}
	if _, err := s.Get(ctx, User, "u2", false); err != nil {
		t.Errorf("user gone with group: %v", err)
	}
}

// Renaming onto a taken name fails with 409 and writes nothing.
func testUpdateConflict(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), groupRes("g1", "Sales"), groupRes("g2", "Eng", "u1"))
	_, err := s.Update(ctx, Group, "g2", func(cur *Resource) (map[string]any, []MemberOp, error) {
		cur.Doc["displayName"] = "sales"
		return cur.Doc, []MemberOp{ops(MemberClear)}, nil
	})
	if e, ok := scimerr.As(err); !ok || !isConflict(err) || e.Detail != `displayName "sales" is already taken by another Group` {
		t.Fatalf("rename onto taken name: %v", err)
	}
	g, _ := s.Get(ctx, Group, "g2", true)
	if g.Doc["displayName"] != "Eng" || g.Version != 1 || len(g.Members) != 1 {
		t.Errorf("after failed rename: %+v", g)
	}
	// Changing only the case of one's own name is not a conflict.
	if _, err := s.Update(ctx, Group, "g1", func(cur *Resource) (map[string]any, []MemberOp, error) {
		cur.Doc["displayName"] = "SALES"
		return cur.Doc, nil, nil
	}); err != nil {
		t.Errorf("recase own name: %v", err)
	}
}
