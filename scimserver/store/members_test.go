package store

import (
	"context"
	"reflect"
	"testing"
)

// Reads that answer with resources return each user's groups, [] for a
// user in no group; Update returns them too. The server skips GroupsOf on
// their word.
func TestGroupsKnown(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), groupRes("g", "G", "u1"))
	reads := map[string]func(id string) *Resource{
		"Get": func(id string) *Resource {
			r, err := s.Get(ctx, User, id, false)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		"GetRaw": func(id string) *Resource {
			r, err := s.GetRaw(ctx, User, id)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		"List by userName": func(id string) *Resource {
			name := map[string]string{"u1": "a", "u2": "b"}[id]
			p, err := s.List(ctx, User, Query{Lookup: &Lookup{Attr: "userName", Value: name}, Count: 1})
			if err != nil || len(p.Resources) != 1 {
				t.Fatalf("List: %v, %v", p, err)
			}
			return p.Resources[0]
		},
		"List page": func(id string) *Resource {
			p, err := s.List(ctx, User, Query{Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Resources {
				if r.ID == id {
					return r
				}
			}
			t.Fatalf("%s not listed", id)
			return nil
		},
	}
	update := func(id string) *Resource {
		r, err := s.Update(ctx, User, id, func(cur *Resource) (map[string]any, []MemberOp, error) { return nil, nil, nil })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	check := func(stage, member, other string) {
		t.Helper()
		for name, read := range reads {
			if g := read(member).Groups; !reflect.DeepEqual(g, []GroupRef{{ID: "g", DisplayName: "G"}}) {
				t.Errorf("%s: %s(%s).Groups = %#v, want [g]", stage, name, member, g)
			}
			if g := read(other).Groups; g == nil || len(g) != 0 {
				t.Errorf("%s: %s(%s).Groups = %#v, want []", stage, name, other, g)
			}
		}
		if g := update(member).Groups; !reflect.DeepEqual(g, []GroupRef{{ID: "g", DisplayName: "G"}}) {
			t.Errorf("%s: Update(%s).Groups = %v", stage, member, g)
		}
		if g := update(other).Groups; g == nil || len(g) != 0 {
			t.Errorf("%s: Update(%s).Groups = %#v, want []", stage, other, g)
		}
	}
	check("u1 member", "u1", "u2")
	if _, err := s.Update(ctx, Group, "g", func(*Resource) (map[string]any, []MemberOp, error) {
		return nil, []MemberOp{ops(MemberRemove, "u1"), ops(MemberAdd, "u2")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	check("u2 member", "u2", "u1")
	// Full scans do not probe: unknown, never a wrong "no groups".
	p, err := s.List(ctx, User, Query{Match: func(*Resource) bool { return true }, Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Resources {
		if r.Groups != nil {
			t.Errorf("full scan: %s.Groups = %#v without a probe", r.ID, r.Groups)
		}
	}
}
