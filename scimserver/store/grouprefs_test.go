package store

import (
	"context"
	"reflect"
	"testing"
)

func TestGroupRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []GroupRef
		fast bool // taken by groupRefsFast
	}{
		{`[]`, []GroupRef{}, true},
		{`[["g1","Sales"]]`, []GroupRef{{"g1", "Sales"}}, true},
		{`[["g1","Sales"],["g2",null],["g3",""]]`, []GroupRef{{"g1", "Sales"}, {"g2", ""}, {"g3", ""}}, true},
		{`[["g1","Ünïcödé 営業"]]`, []GroupRef{{"g1", "Ünïcödé 営業"}}, true},
		{`[["g1","a \"quoted\" \\ name\u0001"]]`, []GroupRef{{"g1", "a \"quoted\" \\ name\x01"}}, false},
		{`[["g1","R&D <team>"]]`, []GroupRef{{"g1", "R&D <team>"}}, true},
		{`[["g1","\u003c"]]`, []GroupRef{{"g1", "<"}}, false},
		{"[[\"g1\",\"\xff\"]]", []GroupRef{{"g1", "\ufffd"}}, false},
	}
	for _, tc := range tests {
		got, err := groupRefs(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("groupRefs(%s) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
		if _, ok := groupRefsFast(tc.in); ok != tc.fast && tc.in != "[]" {
			t.Errorf("groupRefsFast(%s) took it: %v, want %v", tc.in, ok, tc.fast)
		}
	}
	for _, bad := range []string{`[[null,"x"]]`, `[["g1"`, `{}`, `[["g1","x"]`} {
		if got, err := groupRefs(bad); err == nil {
			t.Errorf("groupRefs(%s) = %#v, want an error", bad, got)
		}
	}
}

// What SQLite writes for groups with awkward names reads back as stored.
func TestGroupRefsFromSQLite(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	names := []string{`Q "quoted"`, `back\slash`, "tab\tand\nnewline", "Ünïcödé 営業", "R&D <team>", ""}
	mustCreate(t, s, userRes("u1", "a"))
	var want []GroupRef
	for i, n := range names {
		id := string(rune('a'+i)) + "-group"
		mustCreate(t, s, groupRes(id, n, "u1"))
		want = append(want, GroupRef{ID: id, DisplayName: n})
	}
	r, err := s.GetRaw(ctx, User, "u1")
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.GroupsOf(ctx, []string{"u1"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Groups, want) || !reflect.DeepEqual(r.Groups, g["u1"]) {
		t.Errorf("Groups = %#v\nGroupsOf = %#v\nwant %#v", r.Groups, g["u1"], want)
	}
}

// Whatever groupRefsFast takes, it reads as encoding/json does.
func FuzzGroupRefs(f *testing.F) {
	for _, s := range []string{`[]`, `[["g1","Sales"]]`, `[["g1","a\"b"],["g2",null]]`, `[["g","x"]]x`, "[[\"g\",\"\xff\"]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := groupRefsFast(s)
		if !ok {
			return
		}
		slow, err := groupRefsJSON(s)
		if err != nil {
			t.Fatalf("groupRefsFast took %q, encoding/json refuses it: %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %#v, encoding/json %#v", s, fast, slow)
		}
	})
}
