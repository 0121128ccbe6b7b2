package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	. "github.com/scim-operator/scim-operator/scimserver/store"
)

func testList(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	// u000000..u000009, created in order; even ones share externalId "even".
	for i := range 10 {
		r := userRes(uid(i), fmt.Sprintf("User%d@Contoso.com", i))
		if i%2 == 0 {
			r.Doc["externalId"] = "even"
		}
		mustCreate(t, s, r)
	}
	mustCreate(t, s, groupRes("g1", "Sales", uid(1), uid(2)), groupRes("g2", "Eng"))
	odd := func(r *Resource) bool { return r.ID[len(r.ID)-1]%2 == 1 }
	desc := &Order{
		Key:     func(r *Resource) any { return r.ID },
		Compare: func(a, b any) int { return strings.Compare(b.(string), a.(string)) },
	}
	// Only even users have an externalId: they sort first, ties (equal
	// keys) keep creation order.
	byExternalID := &Order{
		Key:     func(r *Resource) any { e, _ := r.Doc["externalId"].(string); return e },
		Compare: func(a, b any) int { return strings.Compare(b.(string), a.(string)) },
	}

	tests := []struct {
		name  string
		kind  Kind
		q     Query
		total int
		want  []string
	}{
		{"all first page", User, Query{StartIndex: 1, Count: 3}, 10, []string{uid(0), uid(1), uid(2)}},
		{"startIndex 0 means 1", User, Query{StartIndex: 0, Count: 2}, 10, []string{uid(0), uid(1)}},
		{"negative startIndex", User, Query{StartIndex: -5, Count: 1}, 10, []string{uid(0)}},
		{"middle page", User, Query{StartIndex: 4, Count: 3}, 10, []string{uid(3), uid(4), uid(5)}},
		{"last partial page", User, Query{StartIndex: 9, Count: 5}, 10, []string{uid(8), uid(9)}},
		{"past the end", User, Query{StartIndex: 11, Count: 5}, 10, []string{}},
		{"count 0 totals only", User, Query{StartIndex: 1, Count: 0}, 10, []string{}},
		{"kind separates", Group, Query{Count: 10}, 2, []string{"g1", "g2"}},
		{"lookup userName folded", User, Query{Lookup: &Lookup{Attr: "userName", Value: "USER3@contoso.COM"}, Count: 10}, 1, []string{uid(3)}},
		{"lookup attr name case-insensitive", User, Query{Lookup: &Lookup{Attr: "username", Value: "user3@contoso.com"}, Count: 10}, 1, []string{uid(3)}},
		{"lookup userName miss", User, Query{Lookup: &Lookup{Attr: "userName", Value: "b1d6b7d4-0000"}, Count: 10}, 0, []string{}},
		{"lookup id", User, Query{Lookup: &Lookup{Attr: "id", Value: uid(7)}, Count: 10}, 1, []string{uid(7)}},
		{"lookup id case-exact", User, Query{Lookup: &Lookup{Attr: "id", Value: strings.ToUpper(uid(7))}, Count: 10}, 0, []string{}},
		{"lookup id wrong kind", Group, Query{Lookup: &Lookup{Attr: "id", Value: uid(7)}, Count: 10}, 0, []string{}},
		{"lookup externalId many", User, Query{Lookup: &Lookup{Attr: "externalId", Value: "even"}, StartIndex: 2, Count: 2}, 5, []string{uid(2), uid(4)}},
		{"lookup externalId case-exact", User, Query{Lookup: &Lookup{Attr: "externalId", Value: "EVEN"}, Count: 10}, 0, []string{}},
		{"lookup displayName folded", Group, Query{Lookup: &Lookup{Attr: "displayName", Value: "sALES"}, Count: 10}, 1, []string{"g1"}},
		{"lookup plus match", User, Query{Lookup: &Lookup{Attr: "externalId", Value: "even"}, Match: func(r *Resource) bool { return r.ID == uid(4) }, Count: 10}, 1, []string{uid(4)}},
		{"match pages", User, Query{Match: odd, StartIndex: 2, Count: 2}, 5, []string{uid(3), uid(5)}},
		{"match count 0", User, Query{Match: odd, Count: 0}, 5, []string{}},
		{"sort", User, Query{Order: desc, StartIndex: 1, Count: 3}, 10, []string{uid(9), uid(8), uid(7)}},
		{"match and sort", User, Query{Match: odd, Order: desc, StartIndex: 2, Count: 10}, 5, []string{uid(7), uid(5), uid(3), uid(1)}},
		{"sort past end", User, Query{Order: desc, StartIndex: 20, Count: 3}, 10, []string{}},
		// Key and Compare nil: the SQL path must not call them.
		{"sort by indexed column", User, Query{Order: &Order{Column: "userName", Desc: true}, StartIndex: 2, Count: 3}, 10, []string{uid(8), uid(7), uid(6)}},
		{"sort by indexed column ascending", User, Query{Order: &Order{Column: "userName"}, StartIndex: 9, Count: 3}, 10, []string{uid(8), uid(9)}},
		{"groups by indexed displayName", Group, Query{Order: &Order{Column: "displayName"}, Count: 5}, 2, []string{"g2", "g1"}},
		{"sort count 0 totals only", User, Query{Order: desc, Count: 0}, 10, []string{}},
		{"sort ties keep creation order", User, Query{Order: byExternalID, StartIndex: 4, Count: 4}, 10, []string{uid(6), uid(8), uid(1), uid(3)}},
		{"lookup and sort", User, Query{Lookup: &Lookup{Attr: "externalId", Value: "even"}, Order: desc, StartIndex: 2, Count: 2}, 5, []string{uid(6), uid(4)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.List(ctx, tc.kind, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tc.total || !reflect.DeepEqual(ids(p), tc.want) {
				t.Errorf("got total %d %v, want %d %v", p.Total, ids(p), tc.total, tc.want)
			}
			for _, r := range p.Resources {
				if r.Kind != tc.kind || r.Doc == nil || r.Version != 1 || r.Members != nil {
					t.Errorf("resource %+v", r)
				}
			}
		})
	}
	if _, err := s.List(ctx, User, Query{Order: &Order{Column: "externalId"}, Count: 1}); err == nil {
		t.Error("ordering by a column that may be empty did not fail")
	}
	if _, err := s.List(ctx, User, Query{Lookup: &Lookup{Attr: "title", Value: "x"}}); err == nil {
		t.Error("lookup on an unindexed attribute did not fail")
	}
}

func testListMembers(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"),
		groupRes("g1", "Sales", "u1", "u2"), groupRes("g2", "Eng", "u2"), groupRes("g3", "Empty"))
	hasU1 := func(r *Resource) bool {
		for _, m := range r.Members {
			if m.Value == "u1" {
				return true
			}
		}
		return false
	}
	byName := &Order{
		Key:     func(r *Resource) any { return r.Doc["displayName"] },
		Compare: func(a, b any) int { return strings.Compare(a.(string), b.(string)) },
	}
	tests := []struct {
		name string
		q    Query
		want map[string][]string
	}{
		{"sql page", Query{Members: true, Count: 10}, map[string][]string{"g1": {"u1", "u2"}, "g2": {"u2"}, "g3": {}}},
		{"sql page without members", Query{Count: 10}, map[string][]string{"g1": nil, "g2": nil, "g3": nil}},
		{"lookup", Query{Lookup: &Lookup{Attr: "displayName", Value: "eng"}, Members: true, Count: 10}, map[string][]string{"g2": {"u2"}}},
		{"lookup excludes members", Query{Lookup: &Lookup{Attr: "displayName", Value: "eng"}, Count: 10}, map[string][]string{"g2": nil}},
		{"match on members", Query{Match: hasU1, Members: true, MatchMembers: true, Count: 10}, map[string][]string{"g1": {"u1", "u2"}}},
		{"match on members, sorted, paged", Query{Match: func(r *Resource) bool { return len(r.Members) > 0 }, Order: byName, Members: true, MatchMembers: true, StartIndex: 2, Count: 1}, map[string][]string{"g1": {"u1", "u2"}}},
		{"match without members loads them for the page", Query{Match: func(r *Resource) bool { return r.ID != "g1" }, Members: true, Count: 10}, map[string][]string{"g2": {"u2"}, "g3": {}}},
		{"sorted page", Query{Order: byName, Members: true, StartIndex: 2, Count: 1}, map[string][]string{"g2": {"u2"}}},
		{"sorted page without members", Query{Order: byName, StartIndex: 1, Count: 1}, map[string][]string{"g3": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.List(ctx, Group, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, r := range p.Resources {
				var m []string
				if r.Members != nil {
					m = []string{}
				}
				for _, x := range r.Members {
					m = append(m, x.Value)
				}
				got[r.ID] = m
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The counts kept by triggers agree with COUNT(*) through creates, deletes
// and failed (rolled back) creates.
func testListTotalsFollowWrites(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	total := func(k Kind) int {
		p, err := s.List(ctx, k, Query{})
		if err != nil {
			t.Fatal(err)
		}
		n := b.count(t, s, `SELECT COUNT(*) FROM resources WHERE kind = '`+string(k)+`'`)
		if p.Total != n {
			t.Errorf("%s total %d, COUNT(*) %d", k, p.Total, n)
		}
		return p.Total
	}
	if total(User) != 0 || total(Group) != 0 {
		t.Fatal("empty store has resources")
	}
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), groupRes("g", "G", "u1"))
	if err := s.Create(ctx, userRes("u3", "A")); !isConflict(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	if total(User) != 2 || total(Group) != 1 {
		t.Errorf("after creates: %d users, %d groups", total(User), total(Group))
	}
	if err := s.Delete(ctx, User, "u1"); err != nil {
		t.Fatal(err)
	}
	if total(User) != 1 || total(Group) != 1 {
		t.Errorf("after delete: %d users, %d groups", total(User), total(Group))
	}
}
