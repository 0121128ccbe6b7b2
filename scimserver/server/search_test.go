package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Root .search and sorted lists page through the same sequence whatever the
// window: the store is asked only for the part each page needs, so every
// page is checked against the full ordering.
func TestListWindows(t *testing.T) {
	e := newEnv(t)
	// Users bob, Dave, alice, erin, carol (created in that order) and the
	// groups Ops and Dev. displayName orders across both types; names sort
	// case-insensitively. Unfiltered sorts on userName (users) and
	// displayName (groups) page in SQL, filtered ones in Go: same order.
	names := map[string]string{}
	for _, n := range []string{"bob", "Dave", "alice", "erin", "carol"} {
		id := e.post("/Users", user(n+"@contoso.com", "displayName", n)).want(t, 201).str(t, "/id")
		names[id] = n
	}
	for _, n := range []string{"Ops", "Dev"} {
		id := e.post("/Groups", group(n)).want(t, 201).str(t, "/id")
		names[id] = n
	}
	tests := []struct {
		name, path string
		body       map[string]any // POST when set
		all        []string       // the full ordered result
	}{
		{"users by userName", "/Users?sortBy=userName", nil,
			[]string{"alice", "bob", "carol", "Dave", "erin"}},
		{"users by userName descending", "/Users?sortBy=userName&sortOrder=descending", nil,
			[]string{"erin", "Dave", "carol", "bob", "alice"}},
		{"groups by displayName descending", "/Groups?sortBy=displayName&sortOrder=descending", nil,
			[]string{"Ops", "Dev"}},
		{"groups by displayName, filtered", "/Groups?sortBy=displayName&filter=displayName+pr", nil,
			[]string{"Dev", "Ops"}},
		{"users by userName descending, filtered", "/Users?sortBy=userName&sortOrder=descending&filter=userName+ne+%22carol%40contoso.com%22", nil,
			[]string{"erin", "Dave", "bob", "alice"}},
		{"users in creation order, filtered", "/Users?filter=userName+ew+%22contoso.com%22", nil,
			[]string{"bob", "Dave", "alice", "erin", "carol"}},
		{"root search in creation order", "/.search", map[string]any{},
			[]string{"bob", "Dave", "alice", "erin", "carol", "Ops", "Dev"}},
		{"root search by displayName", "/.search", map[string]any{"sortBy": "displayName"},
			[]string{"alice", "bob", "carol", "Dave", "Dev", "erin", "Ops"}},
		{"root search by userName: groups have none and sort last", "/.search", map[string]any{"sortBy": "userName"},
			[]string{"alice", "bob", "carol", "Dave", "erin", "Ops", "Dev"}},
		{"root search descending, filtered", "/.search", map[string]any{"sortBy": "displayName", "sortOrder": "descending", "filter": "displayName sw \"d\" or displayName sw \"o\""},
			[]string{"Ops", "Dev", "Dave"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for count := 0; count <= len(tc.all)+1; count++ {
				for start := 1; start <= len(tc.all)+2; start++ {
					var r *resp
					if tc.body == nil {
						r = e.get(fmt.Sprintf("%s&startIndex=%d&count=%d", withQuery(tc.path), start, count)).want(t, 200)
					} else {
						body := map[string]any{"startIndex": start, "count": count}
						for k, v := range tc.body {
							body[k] = v
						}
						r = e.post(tc.path, body).want(t, 200)
					}
					var got []string
					for _, res := range r.json["Resources"].([]any) {
						got = append(got, names[res.(map[string]any)["id"].(string)])
					}
					lo, hi := min(start-1, len(tc.all)), min(start-1+count, len(tc.all))
					want := tc.all[lo:hi]
					if len(want) == 0 {
						want = nil
					}
					if !reflect.DeepEqual(got, want) || r.num(t, "/totalResults") != len(tc.all) ||
						r.num(t, "/itemsPerPage") != len(want) || r.num(t, "/startIndex") != start {
						t.Fatalf("startIndex=%d count=%d: got %v total %v, want %v total %d\n%s",
							start, count, got, r.json["totalResults"], want, len(tc.all), r.raw)
					}
				}
			}
		})
	}
}

func withQuery(path string) string {
	if strings.Contains(path, "?") {
		return path
	}
	return path + "?"
}

// A root search renders each type as its own list does: users with their
// groups, groups with their members.
func TestRootSearchRendersGroupsAndMembers(t *testing.T) {
	e := newEnv(t)
	uid := e.post("/Users", user("ann@contoso.com")).want(t, 201).str(t, "/id")
	e.post("/Users", user("ben@contoso.com")).want(t, 201)
	gid := e.post("/Groups", group("Ann's", "members", []any{map[string]any{"value": uid}})).want(t, 201).str(t, "/id")
	r := e.post("/.search", map[string]any{"sortBy": "meta.created"}).want(t, 200)
	if r.num(t, "/totalResults") != 3 {
		t.Fatalf("total: %s", r.raw)
	}
	if r.str(t, "/Resources/0/id") != uid || r.str(t, "/Resources/0/groups/0/value") != gid {
		t.Errorf("user without its group: %s", r.raw)
	}
	if _, ok := at(r.json, "/Resources/1/groups"); ok {
		t.Errorf("user in no group has groups: %s", r.raw)
	}
	if r.str(t, "/Resources/2/id") != gid || r.str(t, "/Resources/2/members/0/value") != uid {
		t.Errorf("group without its member: %s", r.raw)
	}
}
