package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	. "github.com/scim-operator/scim-operator/scimserver/store"
)

func testMemberOps(t *testing.T, b Backend) {
	tests := []struct {
		name    string
		initial []string
		ops     []MemberOp
		want    []string
	}{
		{"add", nil, []MemberOp{ops(MemberAdd, "u1", "u2")}, []string{"u1", "u2"}},
		{"add existing is idempotent", []string{"u1"}, []MemberOp{ops(MemberAdd, "u1", "u1")}, []string{"u1"}},
		{"remove listed only", []string{"u1", "u2", "u3"}, []MemberOp{ops(MemberRemove, "u2")}, []string{"u1", "u3"}},
		{"remove non-member", []string{"u1"}, []MemberOp{ops(MemberRemove, "u2", "nobody")}, []string{"u1"}},
		{"add then remove same member", []string{"u1"}, []MemberOp{ops(MemberAdd, "u2"), ops(MemberRemove, "u2")}, []string{"u1"}},
		{"remove then add same member", []string{"u1", "u2"}, []MemberOp{ops(MemberRemove, "u2"), ops(MemberAdd, "u2")}, []string{"u1", "u2"}},
		{"clear", []string{"u1", "u2"}, []MemberOp{ops(MemberClear)}, []string{}},
		{"replace = clear then add", []string{"u1", "u2"}, []MemberOp{ops(MemberClear), ops(MemberAdd, "u3", "u2")}, []string{"u2", "u3"}},
		{"add after clear then clear", []string{"u1"}, []MemberOp{ops(MemberAdd, "u3"), ops(MemberClear)}, []string{}},
		{"no ops", []string{"u1"}, nil, []string{"u1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := b.open(t, nil)
			mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), userRes("u3", "c"), groupRes("g", "G", tc.initial...))
			got, err := s.Update(context.Background(), Group, "g", func(cur *Resource) (map[string]any, []MemberOp, error) {
				return nil, tc.ops, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 || got.Doc["displayName"] != "G" {
				t.Errorf("Update returned %+v", got)
			}
			if ids := memberIDs(t, s, "g"); !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("members %v, want %v", ids, tc.want)
			}
		})
	}
}

func testMembersMustBeUsers(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), groupRes("g1", "G1"))
	for _, bad := range []string{"ghost", "g1" /* nested groups are not provisioned */, "U1" /* ids are case-exact */} {
		err := s.Create(ctx, groupRes("g2", "G2", "u1", bad))
		e, ok := scimerr.As(err)
		if !ok || e.Status != 400 || e.ScimType != scimerr.InvalidValue || e.Detail != fmt.Sprintf("member %q is not an existing User", bad) {
			t.Errorf("Create with member %q: %v", bad, err)
		}
		if _, err := s.Get(ctx, Group, "g2", false); err != ErrNotFound {
			t.Errorf("group created despite bad member %q: %v", bad, err)
		}
	}
	// Members at create, display from the user's displayName.
	mustCreate(t, s, &Resource{Kind: User, ID: "u2", Doc: map[string]any{"userName": "b", "displayName": "Bee"}},
		groupRes("g3", "G3", "u2", "u1", "u2"))
	g, err := s.Get(ctx, Group, "g3", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{{Value: "u1", Type: "User"}, {Value: "u2", Display: "Bee", Type: "User"}}
	if !reflect.DeepEqual(g.Members, want) {
		t.Errorf("members %+v, want %+v", g.Members, want)
	}
	// Empty group: non-nil empty slice when asked, nil when not.
	if g, _ := s.Get(ctx, Group, "g1", true); g.Members == nil || len(g.Members) != 0 {
		t.Errorf("empty group members %#v", g.Members)
	}
	if g, _ := s.Get(ctx, Group, "g3", false); g.Members != nil {
		t.Errorf("members loaded without asking: %v", g.Members)
	}
}

func testGroupsOf(t *testing.T, b Backend) {
	s := b.open(t, nil)
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"), userRes("u3", "c"),
		groupRes("g1", "Sales", "u1", "u2"), groupRes("g2", "Eng", "u1"))
	got, err := s.GroupsOf(context.Background(), []string{"u1", "u2", "u3", "ghost"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]GroupRef{
		"u1": {{ID: "g1", DisplayName: "Sales"}, {ID: "g2", DisplayName: "Eng"}},
		"u2": {{ID: "g1", DisplayName: "Sales"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupsOf = %v, want %v", got, want)
	}
	if got, err := s.GroupsOf(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("GroupsOf(nil) = %v, %v", got, err)
	}
}

// Many goroutines add and remove members of one group at once: every
// update is a delta applied under the write lock, so none is lost.
func testConcurrentMemberUpdates(t *testing.T, b Backend) {
	s := b.open(t, nil)
	ctx := context.Background()
	const n = 200
	for i := range n {
		mustCreate(t, s, userRes(uid(i), uid(i)))
	}
	// Odd users start as members and are removed concurrently.
	var odd []string
	for i := 1; i < n; i += 2 {
		odd = append(odd, uid(i))
	}
	mustCreate(t, s, groupRes("g", "G", odd...))

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			op := MemberAdd
			if i%2 == 1 {
				op = MemberRemove
			}
			_, err := s.Update(ctx, Group, "g", func(cur *Resource) (map[string]any, []MemberOp, error) {
				cur.Doc["n"] = i // doc writes race too; the version counts them
				return cur.Doc, []MemberOp{ops(op, uid(i))}, nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := 0; i < n; i += 2 {
		want = append(want, uid(i))
	}
	if got := memberIDs(t, s, "g"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %d members, want %d", len(got), len(want))
	}
	if g, _ := s.Get(ctx, Group, "g", false); g.Version != n+1 {
		t.Errorf("version %d, want %d: an update was lost", g.Version, n+1)
	}
}
