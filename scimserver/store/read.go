package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

type rowScanner interface{ Scan(dest ...any) error }

// scanResource reads the resCols columns of one row. It returns
// ErrNotFound for sql.ErrNoRows.
func scanResource(kind Kind, row rowScanner) (*Resource, int64, error) {
	var (
		rid, created, modified, version int64
		id, doc                         string
	)
	if err := row.Scan(&rid, &id, &doc, &created, &modified, &version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, err
	}
	r := &Resource{
		Kind: kind, ID: id,
		Created:      time.Unix(0, created).UTC(),
		LastModified: time.Unix(0, modified).UTC(),
		Version:      version,
	}
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber() // integers stay exact, as the rest of the server expects
	if err := d.Decode(&r.Doc); err != nil {
		return nil, 0, fmt.Errorf("store: decode %s %s: %w", kind, id, err)
	}
	return r, rid, nil
}

// Get returns one resource, with its members when asked (groups).
func (s *SQLite) Get(ctx context.Context, kind Kind, id string, members bool) (*Resource, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if !members || kind != Group {
		r, _, err := scanResource(kind, s.stmts.get.QueryRowContext(ctx, string(kind), id))
		return r, err
	}
	// Document and members from one snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r, rid, err := scanResource(kind, tx.StmtContext(ctx, s.stmts.get).QueryRowContext(ctx, string(kind), id))
	if err != nil {
		return nil, err
	}
	rows, err := tx.StmtContext(ctx, s.stmts.members).QueryContext(ctx, rid)
	if err != nil {
		return nil, err
	}
	if err := scanMembers(rows, map[int64]*Resource{rid: r}); err != nil {
		return nil, err
	}
	return r, nil
}

// scanMembers appends each (group_rid, id, display) row to its group. Every
// group in byRID gets a non-nil slice, so "no members" renders as [].
func scanMembers(rows *sql.Rows, byRID map[int64]*Resource) error {
	defer rows.Close()
	for _, r := range byRID {
		r.Members = []Member{}
	}
	for rows.Next() {
		var (
			g       int64
			id      string
			display sql.NullString
		)
		if err := rows.Scan(&g, &id, &display); err != nil {
			return err
		}
		if r := byRID[g]; r != nil {
			r.Members = append(r.Members, Member{Value: id, Display: display.String, Type: string(User)})
		}
	}
	return rows.Err()
}

// loadMembers fills Members of the given groups with one query.
func loadMembers(ctx context.Context, tx *sql.Tx, groups map[int64]*Resource) error {
	if len(groups) == 0 {
		return nil
	}
	rids := make([]int64, 0, len(groups))
	for rid := range groups {
		rids = append(rids, rid)
	}
	arr, _ := json.Marshal(rids)
	rows, err := tx.QueryContext(ctx, memberQuery(`m.group_rid IN (SELECT value FROM json_each(?))`), string(arr))
	if err != nil {
		return err
	}
	return scanMembers(rows, groups)
}

// GroupsOf returns the groups each user belongs to, in one query. Users in
// no group (or unknown) have no entry.
func (s *SQLite) GroupsOf(ctx context.Context, userIDs []string) (map[string][]GroupRef, error) {
	out := map[string][]GroupRef{}
	if len(userIDs) == 0 {
		return out, nil
	}
	// One JSON array parameter instead of N placeholders: no variable limit,
	// and one statement text regardless of the batch size.
	arr, err := json.Marshal(userIDs)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT u.id, g.id, g.display_name
		FROM resources u
		JOIN members m ON m.member_rid = u.rid
		JOIN resources g ON g.rid = m.group_rid
		WHERE u.kind = 'User' AND u.id IN (SELECT value FROM json_each(?))
		ORDER BY u.id, g.rid`, string(arr))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			uid, gid string
			name     sql.NullString
		)
		if err := rows.Scan(&uid, &gid, &name); err != nil {
			return nil, err
		}
		out[uid] = append(out[uid], GroupRef{ID: gid, DisplayName: name.String})
	}
	return out, rows.Err()
}

// List returns one page of the resources of kind that match q.
//
// Without Lookup, Match and Less the page is cut in SQL (creation order,
// LIMIT/OFFSET, the total from the counts table). Otherwise candidates (all of kind, or
// those the Lookup index selects) are streamed, filtered and sorted in Go,
// then paged.
func (s *SQLite) List(ctx context.Context, kind Kind, q Query) (*Page, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	start := max(q.StartIndex, 1) - 1 // 0-based offset
	count := max(q.Count, 0)

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	if q.Lookup == nil && q.Match == nil && q.Less == nil {
		return s.listSQL(ctx, tx, kind, start, count, q.Members)
	}

	var rows *sql.Rows
	if q.Lookup != nil {
		attr, val, err := lookupArgs(kind, q.Lookup)
		if err != nil {
			return nil, err
		}
		rows, err = tx.StmtContext(ctx, s.stmts.lookup[attr]).QueryContext(ctx, string(kind), val)
		if err != nil {
			return nil, err
		}
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT `+resCols+` FROM resources WHERE kind = ? ORDER BY rid`, string(kind))
		if err != nil {
			return nil, err
		}
	}

	// A filter may name members (members.value eq ...): then members must
	// be loaded before matching, which needs the candidates collected first.
	preload := q.Members && kind == Group && q.Match != nil
	keepAll := q.Less != nil || preload
	page := &Page{Resources: []*Resource{}}
	withMembers := q.Members && kind == Group
	ridOf := map[*Resource]int64{} // groups whose members may be needed
	var all []*Resource
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			r, rid, err := scanResource(kind, rows)
			if err != nil {
				return err
			}
			if keepAll {
				all = append(all, r)
				if withMembers {
					ridOf[r] = rid
				}
				continue
			}
			// Streaming: keep only the page, count the rest.
			if q.Match != nil && !q.Match(r) {
				continue
			}
			if page.Total >= start && page.Total < start+count {
				page.Resources = append(page.Resources, r)
				if withMembers {
					ridOf[r] = rid
				}
			}
			page.Total++
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, err
	}
	if preload {
		if err := loadMembers(ctx, tx, invert(ridOf, all)); err != nil {
			return nil, err
		}
	}
	if keepAll {
		if q.Match != nil {
			all = slices.DeleteFunc(all, func(r *Resource) bool { return !q.Match(r) })
		}
		if q.Less != nil {
			slices.SortStableFunc(all, func(a, b *Resource) int {
				switch {
				case q.Less(a, b):
					return -1
				case q.Less(b, a):
					return 1
				}
				return 0
			})
		}
		page.Total = len(all)
		if start < len(all) {
			page.Resources = all[start:min(start+count, len(all))]
		}
	}
	if withMembers && !preload {
		// Members only for the page, not for every candidate.
		if err := loadMembers(ctx, tx, invert(ridOf, page.Resources)); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// invert maps rid to resource for rs.
func invert(ridOf map[*Resource]int64, rs []*Resource) map[int64]*Resource {
	m := make(map[int64]*Resource, len(rs))
	for _, r := range rs {
		m[ridOf[r]] = r
	}
	return m
}

// lookupArgs resolves a Lookup to its prepared statement key and the value
// to compare (folded where SCIM compares case-insensitively).
func lookupArgs(kind Kind, l *Lookup) (string, string, error) {
	for attr := range lookupCols {
		if strings.EqualFold(attr, l.Attr) {
			switch attr {
			case "userName", "displayName":
				return attr, fold(l.Value), nil
			}
			return attr, l.Value, nil
		}
	}
	return "", "", fmt.Errorf("store: no index for %s attribute %q", kind, l.Attr)
}

// pageQuery selects one page in creation order. OFFSET skips entries of the
// covering (kind, rid) index, not table rows.
const pageQuery = `SELECT ` + resCols + ` FROM resources WHERE rid IN
	(SELECT rid FROM resources WHERE kind = ? ORDER BY rid LIMIT ? OFFSET ?) ORDER BY rid`

// listSQL pages in SQL: the cheap path for an unfiltered, unsorted list.
func (s *SQLite) listSQL(ctx context.Context, tx *sql.Tx, kind Kind, start, count int, members bool) (*Page, error) {
	page := &Page{Resources: []*Resource{}}
	switch err := tx.QueryRowContext(ctx, `SELECT n FROM counts WHERE kind = ?`, string(kind)).Scan(&page.Total); {
	case errors.Is(err, sql.ErrNoRows): // nothing of this kind was ever created
	case err != nil:
		return nil, err
	}
	if count == 0 || start >= page.Total {
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, pageQuery,
		string(kind), count, start)
	if err != nil {
		return nil, err
	}
	byRID := map[int64]*Resource{}
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			r, rid, err := scanResource(kind, rows)
			if err != nil {
				return err
			}
			page.Resources = append(page.Resources, r)
			byRID[rid] = r
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, err
	}
	if members && kind == Group {
		if err := loadMembers(ctx, tx, byRID); err != nil {
			return nil, err
		}
	}
	return page, nil
}
