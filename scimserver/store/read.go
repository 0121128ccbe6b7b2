package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

type rowScanner interface{ Scan(dest ...any) error }

// scanResource reads the resCols columns of one row. It returns
// ErrNotFound for sql.ErrNoRows.
func scanResource(kind Kind, row rowScanner) (*Resource, int64, error) {
	return scan(kind, row, probeExists, true)
}

// scan reads one row of scanCols and the probe column, leaving Doc nil
// unless decode is set.
func scan(kind Kind, row rowScanner, p probe, decode bool) (*Resource, int64, error) {
	var (
		c   cols
		doc []byte
	)
	if err := row.Scan(c.dest(&doc, p)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, err
	}
	r, err := c.resource(kind, doc, decode)
	if r != nil {
		r.Raw = doc // scanned as []byte: a copy of its own
	}
	return r, c.rid, err
}

// probe is what the column after scanCols says about a user's groups.
type probe int

const (
	probeNone   probe = iota // no such column (full scans)
	probeExists              // resCols: member of any group
	probeGroups              // readCols: the groups, as JSON
)

// probeOf tells the probe from a row's column names.
func probeOf(names []string) probe {
	switch {
	case len(names) <= 6:
		return probeNone
	case names[6] == "group_refs":
		return probeGroups
	}
	return probeExists
}

// cols are the resCols (or scanCols) columns but the document, which is
// scanned apart (as sql.RawBytes when streaming, to test it before
// decoding).
type cols struct {
	rid, created, modified, version int64
	id                              string
	probe                           probe
	inGroup                         bool   // probeExists
	groups                          string // probeGroups
}

func (c *cols) dest(doc any, p probe) []any {
	c.probe = p
	d := []any{&c.rid, &c.id, doc, &c.created, &c.modified, &c.version}
	switch p {
	case probeExists:
		d = append(d, &c.inGroup)
	case probeGroups:
		d = append(d, &c.groups)
	}
	return d
}

// groupRefs decodes readCols' groups column: [[id, displayName], ...].
func groupRefs(s string) ([]GroupRef, error) {
	if s == "[]" || s == "" { // in no group: the common answer, no decoding
		return []GroupRef{}, nil
	}
	if refs, ok := groupRefsFast(s); ok {
		return refs, nil
	}
	return groupRefsJSON(s)
}

// groupRefsJSON is groupRefs through encoding/json, for what
// groupRefsFast does not take.
func groupRefsJSON(s string) ([]GroupRef, error) {
	var pairs [][2]*string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, fmt.Errorf("store: decode groups: %w", err)
	}
	out := make([]GroupRef, len(pairs))
	for i, p := range pairs {
		if p[0] == nil {
			return nil, errors.New("store: decode groups: group without id")
		}
		out[i].ID = *p[0]
		if p[1] != nil { // a NULL display_name reads as "", as in GroupsOf
			out[i].DisplayName = *p[1]
		}
	}
	return out, nil
}

// groupRefsFast decodes the compact form SQLite writes,
// [["id","name"],["id",null]], with strings free of escapes, by slicing s:
// encoding/json was a tenth of a 100-user page. Anything else reports
// false and goes to groupRefsJSON (FuzzGroupRefs checks they agree).
func groupRefsFast(s string) ([]GroupRef, bool) {
	out := make([]GroupRef, 0, strings.Count(s, "],[")+1)
	i := 1 // past '['
	if len(s) < 2 || s[0] != '[' {
		return nil, false
	}
	for {
		if i >= len(s) || s[i] != '[' {
			return nil, false
		}
		id, j, ok := plainString(s, i+1)
		if !ok || j >= len(s) || s[j] != ',' {
			return nil, false
		}
		var name string
		if strings.HasPrefix(s[j+1:], "null") {
			j += 5
		} else if name, j, ok = plainString(s, j+1); !ok {
			return nil, false
		}
		if j+1 >= len(s) || s[j] != ']' {
			return nil, false
		}
		out = append(out, GroupRef{ID: id, DisplayName: name})
		switch s[j+1] {
		case ',':
			i = j + 2
		case ']':
			return out, j+2 == len(s)
		default:
			return nil, false
		}
	}
}

// plainString reads the JSON string at s[i] when it holds no escape and
// no control character, returning it and the index after it.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			str := s[i+1 : j]
			return str, j + 1, utf8.ValidString(str)
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

func (c *cols) resource(kind Kind, doc []byte, decode bool) (*Resource, error) {
	r := &Resource{
		Kind: kind, ID: c.id,
		Created:      time.Unix(0, c.created).UTC(),
		LastModified: time.Unix(0, c.modified).UTC(),
		Version:      c.version,
	}
	if kind == User {
		switch c.probe {
		case probeExists:
			if !c.inGroup {
				r.Groups = []GroupRef{}
			}
		case probeGroups:
			g, err := groupRefs(c.groups)
			if err != nil {
				return nil, err
			}
			r.Groups = g
		}
	}
	if !decode {
		return r, nil
	}
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber() // integers stay exact, as the rest of the server expects
	if err := d.Decode(&r.Doc); err != nil {
		return nil, fmt.Errorf("store: decode %s %s: %w", kind, c.id, err)
	}
	return r, nil
}

// eachResource calls fn for every row of rows (resCols) whose document
// passes text (nil: every row), then closes rows.
func eachResource(kind Kind, rows *sql.Rows, text func([]byte) bool, fn func(r *Resource, rid int64)) error {
	return eachRow(kind, rows, text, true, fn)
}

// eachRow is eachResource, leaving Doc nil unless decode is set.
func eachRow(kind Kind, rows *sql.Rows, text func([]byte) bool, decode bool, fn func(r *Resource, rid int64)) error {
	defer rows.Close()
	var (
		c   cols
		doc sql.RawBytes // valid until the next Next: decoded or skipped before
	)
	names, err := rows.Columns()
	if err != nil {
		return err
	}
	dest := c.dest(&doc, probeOf(names))
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if text != nil && !text(doc) {
			continue
		}
		r, err := c.resource(kind, doc, decode)
		if err != nil {
			return err
		}
		r.Raw = bytes.Clone(doc)
		fn(r, c.rid)
	}
	return rows.Err()
}

// Get returns one resource, with its members when asked (groups).
func (s *SQLite) Get(ctx context.Context, kind Kind, id string, members bool) (*Resource, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	if !members || kind != Group {
		r, _, err := scan(kind, s.stmts.get.QueryRowContext(ctx, string(kind), id), probeGroups, true)
		return r, err
	}
	// Document and members from one snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r, rid, err := scan(kind, tx.StmtContext(ctx, s.stmts.get).QueryRowContext(ctx, string(kind), id), probeGroups, true)
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

// GetRaw is Get without members and without decoding the document (see
// RawReader).
func (s *SQLite) GetRaw(ctx context.Context, kind Kind, id string) (*Resource, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	r, _, err := scan(kind, s.stmts.get.QueryRowContext(ctx, string(kind), id), probeGroups, false)
	return r, err
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
	arr, err := json.Marshal(userIDs) // one parameter: see stmts.groupsOf
	if err != nil {
		return nil, err
	}
	rows, err := s.stmts.groupsOf.QueryContext(ctx, string(arr))
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
// Without Lookup, Match and Order the page is cut in SQL (creation order,
// LIMIT/OFFSET, the total from the counts table). Otherwise candidates (all
// of kind, or those the Lookup index selects) are streamed and matched in
// Go, keeping only the page or, when sorting, each match's sort key: memory
// stays bounded by the page however many resources are scanned.
func (s *SQLite) List(ctx context.Context, kind Kind, q Query) (*Page, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	w := window{start: max(q.StartIndex, 1) - 1, count: max(q.Count, 0)}
	if w.count == 0 {
		q.Order = nil // totals only: nothing to sort
	}
	withMembers := q.Members && kind == Group
	// Without a filter, creation order and the indexed columns page in SQL;
	// anything else without a Lookup reads every resource of kind.
	inSQL := q.Lookup == nil && q.Match == nil && q.Text == nil && (q.Order == nil || q.Order.Column != "")
	if (q.Lookup == nil || !lookupIndexed(kind, q.Lookup)) && !inSQL {
		release, err := s.acquireScan(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}

	if q.Lookup != nil && !withMembers && q.Order == nil {
		// One statement reads one snapshot, so a lookup needs no
		// transaction: BEGIN and ROLLBACK (parsed on every run by the
		// driver) were a sixth of a userName eq filter's CPU.
		attr, val, err := lookupArgs(kind, q.Lookup)
		if err != nil {
			return nil, err
		}
		rows, err := s.stmts.lookup[pageKey{kind, attr}].QueryContext(ctx, val)
		if err != nil {
			return nil, err
		}
		page, err := listStreamed(kind, rows, q, w, !q.RawOnly || q.Match != nil)
		if err != nil {
			return nil, err
		}
		return &page.Page, nil
	}

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	if inSQL {
		return s.listSQL(ctx, tx, kind, w, q.Order, withMembers, !q.RawOnly)
	}
	rows, err := s.candidates(ctx, tx, kind, q.Lookup)
	if err != nil {
		return nil, err
	}
	var page *collected
	switch {
	case withMembers && q.MatchMembers && q.Match != nil:
		page, err = listPreloaded(ctx, tx, kind, rows, q, w)
		withMembers = false // loaded before matching
	case q.Order != nil:
		page, err = listOrdered(ctx, tx, kind, rows, q, w)
	default:
		page, err = listStreamed(kind, rows, q, w, !q.RawOnly || q.Match != nil)
	}
	if err != nil {
		return nil, err
	}
	if withMembers {
		if err := loadMembers(ctx, tx, page.byRID); err != nil {
			return nil, err
		}
	}
	return &page.Page, nil
}

// lookupIndexed says whether an index answers l for kind. Since
// migration 5 a user's displayName has none: that lookup reads every user
// (no document is decoded), so it takes a scan slot like any unindexed
// filter.
func lookupIndexed(kind Kind, l *Lookup) bool {
	return !(kind == User && strings.EqualFold(l.Attr, "displayName"))
}

// acquireScan waits for a full-scan slot (see SQLite.scans).
func (s *SQLite) acquireScan(ctx context.Context) (release func(), err error) {
	select {
	case s.scans <- struct{}{}:
		return func() { <-s.scans }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// window is the 0-based slice of the matches a List returns.
type window struct{ start, count int }

func (w window) contains(i int) bool { return i >= w.start && i < w.start+w.count }

// cut returns the window's part of n items as [lo, hi).
func (w window) cut(n int) (lo, hi int) {
	return min(w.start, n), min(w.start+w.count, n)
}

// candidates streams the resources a List considers: those the lookup index
// selects, or every resource of kind, in creation order.
func (s *SQLite) candidates(ctx context.Context, tx *sql.Tx, kind Kind, l *Lookup) (*sql.Rows, error) {
	if l == nil {
		return tx.QueryContext(ctx, `SELECT `+scanCols+` FROM resources WHERE kind = ? ORDER BY rid`, string(kind))
	}
	attr, val, err := lookupArgs(kind, l)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, s.stmts.lookup[pageKey{kind, attr}]).QueryContext(ctx, val)
}

// listStreamed matches candidates one at a time and keeps only the page.
func listStreamed(kind Kind, rows *sql.Rows, q Query, w window, decode bool) (*collected, error) {
	page := newPage()
	err := eachRow(kind, rows, q.Text.compile(), decode, func(r *Resource, rid int64) {
		if q.Match != nil && !q.Match(r) {
			return
		}
		if w.contains(page.Total) {
			page.add(r, rid)
		}
		page.Total++
	})
	return page, err
}

// keyed is one match while sorting: its sort key and where to find it.
type keyed struct {
	key any
	rid int64
	res *Resource // kept only when already loaded in full (listPreloaded)
}

func sortKeyed(ks []keyed, o *Order) {
	// Stable: candidates arrive in creation order, which breaks ties.
	slices.SortStableFunc(ks, func(a, b keyed) int { return o.Compare(a.key, b.key) })
}

// listOrdered matches candidates, keeps each match's sort key, sorts the
// keys and then loads the page's documents by rid from the same snapshot.
func listOrdered(ctx context.Context, tx *sql.Tx, kind Kind, rows *sql.Rows, q Query, w window) (*collected, error) {
	var ks []keyed
	err := eachResource(kind, rows, q.Text.compile(), func(r *Resource, rid int64) {
		if q.Match == nil || q.Match(r) {
			ks = append(ks, keyed{key: q.Order.Key(r), rid: rid})
		}
	})
	if err != nil {
		return nil, err
	}
	sortKeyed(ks, q.Order)
	lo, hi := w.cut(len(ks))
	page, err := loadByRID(ctx, tx, kind, ks[lo:hi])
	if err != nil {
		return nil, err
	}
	page.Total = len(ks)
	return page, nil
}

// loadByRID loads the resources ks name, in ks's order, with one query.
func loadByRID(ctx context.Context, tx *sql.Tx, kind Kind, ks []keyed) (*collected, error) {
	page := newPage()
	if len(ks) == 0 {
		return page, nil
	}
	rids := make([]int64, len(ks))
	for i, k := range ks {
		rids[i] = k.rid
	}
	arr, _ := json.Marshal(rids)
	rows, err := tx.QueryContext(ctx, `SELECT `+readCols+` FROM resources
		WHERE rid IN (SELECT value FROM json_each(?))`, string(arr))
	if err != nil {
		return nil, err
	}
	loaded := make(map[int64]*Resource, len(ks))
	if err := eachResource(kind, rows, nil, func(r *Resource, rid int64) { loaded[rid] = r }); err != nil {
		return nil, err
	}
	for _, k := range ks {
		if r := loaded[k.rid]; r != nil { // same snapshot: always present
			page.add(r, k.rid)
		}
	}
	return page, nil
}

// listPreloaded serves filters that read group members (members.value eq
// ...): members must be loaded before matching, so every candidate group is
// held at once. Groups are few next to users; the filter is rare.
func listPreloaded(ctx context.Context, tx *sql.Tx, kind Kind, rows *sql.Rows, q Query, w window) (*collected, error) {
	all := newPage()
	if err := eachResource(kind, rows, q.Text.compile(), all.add); err != nil {
		return nil, err
	}
	if err := loadMembers(ctx, tx, all.byRID); err != nil {
		return nil, err
	}
	var ks []keyed
	for i, r := range all.Resources {
		if q.Match(r) {
			k := keyed{rid: all.rids[i], res: r}
			if q.Order != nil {
				k.key = q.Order.Key(r)
			}
			ks = append(ks, k)
		}
	}
	if q.Order != nil {
		sortKeyed(ks, q.Order)
	}
	page := newPage()
	lo, hi := w.cut(len(ks))
	for _, k := range ks[lo:hi] {
		page.add(k.res, k.rid)
	}
	page.Total = len(ks)
	return page, nil
}

// lookupArgs resolves a Lookup to its prepared statement key and the value
// to compare (folded where SCIM compares case-insensitively).
func lookupArgs(kind Kind, l *Lookup) (string, string, error) {
	for attr := range lookupCols {
		if strings.EqualFold(attr, l.Attr) {
			switch attr {
			case "userName", "displayName":
				return attr, Fold(l.Value), nil
			}
			return attr, l.Value, nil
		}
	}
	return "", "", fmt.Errorf("store: no index for %s attribute %q", kind, l.Attr)
}

// pageOrder is the ORDER BY of an unfiltered page: creation order, or an
// indexed column.
func pageOrder(order *Order) (string, error) {
	if order == nil {
		return "rid", nil
	}
	col, ok := lookupCols[order.Column]
	if !ok || col == "id" || col == "external_id" {
		return "", fmt.Errorf("store: cannot order by column %q", order.Column)
	}
	// The column is unique within the kind: no tie to break, and an
	// ORDER BY the index can walk in either direction.
	if order.Desc {
		return col + " DESC", nil
	}
	return col, nil
}

// pageOrders are every ORDER BY pageOrder returns, to prepare them all.
func pageOrders() []string {
	by := []string{"rid"}
	for _, col := range lookupCols {
		if col != "id" && col != "external_id" {
			by = append(by, col, col+" DESC")
		}
	}
	return by
}

// pageQuery selects one page of kind ordered by by (pageOrder). OFFSET
// skips entries of the covering (kind, column) index, not table rows. The
// kind is written into the statement (one of two constants, checkKind;
// see the lookup statements for why).
func pageQuery(kind Kind, by string) string {
	from := "resources"
	// The name indexes are partial, one kind each (migration 5), and
	// without statistics SQLite prefers the (kind) index and a sort of
	// the whole kind: name the index that is already in order.
	if ix, ok := nameIndex[kind][strings.TrimSuffix(by, " DESC")]; ok {
		from = "resources INDEXED BY " + ix
	}
	return `SELECT ` + readCols + ` FROM resources WHERE rid IN
	(SELECT rid FROM ` + from + ` WHERE kind = ` + kindLiteral(kind) + ` ORDER BY ` + by + ` LIMIT ? OFFSET ?) ORDER BY ` + by
}

// nameIndex is the unique, partial index of a kind's name column.
var nameIndex = map[Kind]map[string]string{
	User:  {"user_name_folded": "resources_user_name"},
	Group: {"display_name_folded": "resources_group_name"},
}

// listSQL pages in SQL: the cheap path for an unfiltered list, in creation
// order or by an indexed column.
func (s *SQLite) listSQL(ctx context.Context, tx *sql.Tx, kind Kind, w window, order *Order, withMembers, decode bool) (*Page, error) {
	by, err := pageOrder(order)
	if err != nil {
		return nil, err
	}
	page := newPage()
	switch err := tx.QueryRowContext(ctx, `SELECT n FROM counts WHERE kind = ?`, string(kind)).Scan(&page.Total); {
	case errors.Is(err, sql.ErrNoRows): // nothing of this kind was ever created
	case err != nil:
		return nil, err
	}
	if w.count == 0 || w.start >= page.Total {
		return &page.Page, nil
	}
	rows, err := tx.StmtContext(ctx, s.stmts.page[pageKey{kind, by}]).QueryContext(ctx, w.count, w.start)
	if err != nil {
		return nil, err
	}
	if err := eachRow(kind, rows, nil, decode, page.add); err != nil {
		return nil, err
	}
	if withMembers {
		if err := loadMembers(ctx, tx, page.byRID); err != nil {
			return nil, err
		}
	}
	return &page.Page, nil
}

// collected is a Page being built, with the rids of its resources (to load
// members or documents by rid).
type collected struct {
	Page
	rids  []int64
	byRID map[int64]*Resource
}

func newPage() *collected {
	return &collected{Page: Page{Resources: []*Resource{}}, byRID: map[int64]*Resource{}}
}

func (c *collected) add(r *Resource, rid int64) {
	c.Resources = append(c.Resources, r)
	c.rids = append(c.rids, rid)
	c.byRID[rid] = r
}
