package store

import (
	"context"
	"strings"
	"testing"
)

// queryPlan returns EXPLAIN QUERY PLAN's detail lines for q.
func queryPlan(t *testing.T, s *SQLite, q string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// The hot lookups must be index searches, never table scans.
func TestQueriesUseIndexes(t *testing.T) {
	s, _ := openTest(t)
	mustCreate(t, s, userRes("u1", "a"), groupRes("g", "G", "u1"))
	tests := []struct {
		name, query string
		args        []any
		want        []string // substrings every one of which must appear
	}{
		{"id", lookupQuery(User, lookupCols["id"]), []any{"u1"}, []string{"SEARCH resources USING INDEX resources_id (kind=? AND id=?)",
			"SEARCH m USING COVERING INDEX members_member (member_rid=?)", "SEARCH g USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"userName", lookupQuery(User, lookupCols["userName"]), []any{"a"}, []string{"SEARCH resources USING INDEX resources_user_name (user_name_folded=?)"}},
		{"externalId", lookupQuery(User, lookupCols["externalId"]), []any{"x"}, []string{"SEARCH resources USING INDEX resources_external_id (kind=? AND external_id=?)"}},
		{"group externalId", lookupQuery(Group, lookupCols["externalId"]), []any{"x"}, []string{"SEARCH resources USING INDEX resources_external_id (kind=? AND external_id=?)"}},
		{"displayName", lookupQuery(Group, lookupCols["displayName"]), []any{"g"}, []string{"SEARCH resources USING INDEX resources_group_name (display_name_folded=?)"}},
		{"list page", mustPageQuery(t, User, nil), []any{10, 0}, []string{"SEARCH resources USING COVERING INDEX resources_kind (kind=?)", "SEARCH resources USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"list page by userName", mustPageQuery(t, User, &Order{Column: "userName", Desc: true}), []any{10, 0}, []string{"SCAN resources USING COVERING INDEX resources_user_name", "SEARCH resources USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"list page by displayName", mustPageQuery(t, Group, &Order{Column: "displayName"}), []any{10, 0}, []string{"SCAN resources USING COVERING INDEX resources_group_name", "SEARCH resources USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"list total", `SELECT n FROM counts WHERE kind = ?`, []any{"User"}, []string{"SEARCH counts USING PRIMARY KEY (kind=?)"}},
		{"members of group", memberQuery(`m.group_rid = ?`), []any{1}, []string{"SEARCH m USING PRIMARY KEY (group_rid=?)", "SEARCH r USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"add member", `SELECT ?, rid FROM resources WHERE kind = 'User' AND id = ?`, []any{1, "u1"}, []string{"SEARCH resources USING COVERING INDEX resources_id (kind=? AND id=?)"}},
		{"groups of users", `SELECT u.id, g.id, g.display_name FROM resources u
			JOIN members m ON m.member_rid = u.rid JOIN resources g ON g.rid = m.group_rid
			WHERE u.kind = 'User' AND u.id IN (SELECT value FROM json_each(?)) ORDER BY u.id, g.rid`, []any{`["u1"]`},
			[]string{"USING COVERING INDEX resources_id (kind=? AND id=?)", "SEARCH m USING COVERING INDEX members_member (member_rid=?)", "SEARCH g USING INTEGER PRIMARY KEY (rowid=?)"}},
		// Cascade on user delete finds the user's member rows by index.
		{"cascade by member", `DELETE FROM members WHERE member_rid = ?`, []any{1}, []string{"SEARCH members USING COVERING INDEX members_member (member_rid=?)"}},
	}
	// These sort their (small) result, never the table: a user's groups,
	// and one page whose rids the index walk already chose in order (the
	// inner query is checked first).
	sortsResult := map[string]bool{"groups of users": true, "list page by userName": true, "list page by displayName": true}
	if plan := queryPlan(t, s, `SELECT rid FROM resources INDEXED BY resources_user_name WHERE kind = 'User' ORDER BY user_name_folded DESC LIMIT ? OFFSET ?`, 10, 0); plan != "SCAN resources USING COVERING INDEX resources_user_name" {
		t.Errorf("sorted page selection:\n%s", plan)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := queryPlan(t, s, tc.query, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			if scansTable(plan) || strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") && !sortsResult[tc.name] {
				t.Errorf("plan scans or sorts:\n%s", plan)
			}
		})
	}
}

// scansTable says whether plan walks a whole table or a whole index of
// it. A walk of a partial name index is not a scan: it holds one kind's
// entries, exactly what the (kind, name) index's kind=? range held before
// migration 5.
func scansTable(plan string) bool {
	for _, line := range strings.Split(plan, "\n") {
		switch line {
		case "SCAN resources USING COVERING INDEX resources_user_name", "SCAN resources USING COVERING INDEX resources_group_name":
			continue
		}
		if strings.HasPrefix(line, "SCAN resources") || strings.HasPrefix(line, "SCAN m ") || line == "SCAN m" {
			return true
		}
	}
	return false
}

func mustPageQuery(t *testing.T, kind Kind, o *Order) string {
	t.Helper()
	by, err := pageOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	return pageQuery(kind, by)
}
