package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Column list of every query that builds a Resource (see scanResource).
const resCols = `rid, id, doc, created, last_modified, version`

// userCols and userFrom read users (as r) with their groups (gr: ids and
// names, in GroupsOf's order), so that a response needs no GroupsOf round
// trip; a user in no group gets an empty Groups, not an unknown one.
const (
	userCols = `r.rid, r.id, r.doc, r.created, r.last_modified, r.version, gr.ids, gr.names`
	userFrom = `resources r CROSS JOIN LATERAL (SELECT array_agg(g.id ORDER BY g.rid) AS ids,
		array_agg(coalesce(g.display_name, '') ORDER BY g.rid) AS names
		FROM members m JOIN resources g ON g.rid = m.group_rid WHERE m.member_rid = r.rid) gr`
)

// snapshot is a read-only transaction whose queries all see one snapshot.
var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// row is the columns of one resource row: resCols, or userCols.
type row struct {
	rid, created, modified, version int64
	id                              string
	doc                             []byte // pgx scans a copy of its own
	gids, gnames                    []string
}

func (c *row) dest(groups bool) []any {
	d := []any{&c.rid, &c.id, &c.doc, &c.created, &c.modified, &c.version}
	if groups {
		d = append(d, &c.gids, &c.gnames)
	}
	return d
}

// resource builds the Resource, with Raw set, Doc only when decode is set
// and Groups when the row has them.
func (c *row) resource(kind store.Kind, decode, groups bool) (*store.Resource, error) {
	var r *store.Resource
	if decode {
		var err error
		if r, err = store.DecodeResource(kind, c.id, c.doc, c.created, c.modified, c.version); err != nil {
			return nil, err
		}
		r.Raw = c.doc
	} else {
		r = store.RawResource(kind, c.id, c.doc, c.created, c.modified, c.version)
	}
	if groups {
		r.Groups = make([]store.GroupRef, len(c.gids))
		for i, id := range c.gids {
			r.Groups[i] = store.GroupRef{ID: id, DisplayName: c.gnames[i]}
		}
	}
	return r, nil
}

// scanResource reads one row (resCols, or userCols when groups is set);
// no row is store.ErrNotFound.
func scanResource(kind store.Kind, rw pgx.Row, decode, groups bool) (*store.Resource, int64, error) {
	var c row
	if err := rw.Scan(c.dest(groups)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, 0, store.ErrNotFound
		}
		return nil, 0, err
	}
	r, err := c.resource(kind, decode, groups)
	return r, c.rid, err
}

// eachResource calls fn for each row (resCols, or userCols when the rows
// have 8 columns) whose document passes text (nil: every row), decoding
// only those, and only when decode is set.
func eachResource(kind store.Kind, rows pgx.Rows, text func([]byte) bool, decode bool, fn func(r *store.Resource, rid int64)) error {
	defer rows.Close()
	var c row
	groups := len(rows.FieldDescriptions()) == 8
	dest := c.dest(groups)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if text != nil && !text(c.doc) {
			continue
		}
		r, err := c.resource(kind, decode, groups)
		if err != nil {
			return err
		}
		fn(r, c.rid)
	}
	return rows.Err()
}

// Get returns one resource, with its members when asked (groups); a user
// comes with its groups.
func (s *Store) Get(ctx context.Context, kind store.Kind, id string, members bool) (*store.Resource, error) {
	return s.get(ctx, kind, id, members, true)
}

// GetRaw is Get without members and without decoding the document
// (store.RawReader).
func (s *Store) GetRaw(ctx context.Context, kind store.Kind, id string) (*store.Resource, error) {
	return s.get(ctx, kind, id, false, false)
}

func (s *Store) get(ctx context.Context, kind store.Kind, id string, members, decode bool) (*store.Resource, error) {
	if err := store.CheckKind(kind); err != nil {
		return nil, err
	}
	if kind == store.User {
		r, _, err := scanResource(kind, s.pool.QueryRow(ctx,
			`SELECT `+userCols+` FROM `+userFrom+` WHERE r.kind = 'User' AND r.id = $1`, id), decode, true)
		return r, classify(err)
	}
	const q = `SELECT ` + resCols + ` FROM resources WHERE kind = $1 AND id = $2`
	if !members {
		r, _, err := scanResource(kind, s.pool.QueryRow(ctx, q, string(kind), id), decode, false)
		return r, classify(err)
	}
	var r *store.Resource
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		var rid int64
		var err error
		if r, rid, err = scanResource(kind, tx.QueryRow(ctx, q, string(kind), id), decode, false); err != nil {
			return err
		}
		return loadMembers(ctx, tx, map[int64]*store.Resource{rid: r})
	})
	return r, classify(err)
}

// loadMembers fills Members of the given groups with one query. Every
// group gets a non-nil slice, so "no members" renders as [].
func loadMembers(ctx context.Context, tx querier, groups map[int64]*store.Resource) error {
	if len(groups) == 0 {
		return nil
	}
	rids := make([]int64, 0, len(groups))
	for rid, r := range groups {
		rids = append(rids, rid)
		r.Members = []store.Member{}
	}
	rows, err := tx.Query(ctx, `SELECT m.group_rid, r.id, r.display_name FROM members m
		JOIN resources r ON r.rid = m.member_rid
		WHERE m.group_rid = ANY($1) ORDER BY m.group_rid, m.member_rid`, rids)
	if err != nil {
		return err
	}
	var (
		g       int64
		id      string
		display *string
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &id, &display}, func() error {
		if r := groups[g]; r != nil {
			m := store.Member{Value: id, Type: string(store.User)}
			if display != nil {
				m.Display = *display
			}
			r.Members = append(r.Members, m)
		}
		return nil
	})
	return err
}

// GroupsOf returns the groups each user belongs to, in one query.
func (s *Store) GroupsOf(ctx context.Context, userIDs []string) (map[string][]store.GroupRef, error) {
	out := map[string][]store.GroupRef{}
	if len(userIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT u.id, g.id, g.display_name
		FROM resources u
		JOIN members m ON m.member_rid = u.rid
		JOIN resources g ON g.rid = m.group_rid
		WHERE u.kind = 'User' AND u.id = ANY($1)
		ORDER BY u.id, g.rid`, userIDs)
	if err != nil {
		return nil, classify(err)
	}
	var (
		uid, gid string
		name     *string
	)
	_, err = pgx.ForEachRow(rows, []any{&uid, &gid, &name}, func() error {
		ref := store.GroupRef{ID: gid}
		if name != nil {
			ref.DisplayName = *name
		}
		out[uid] = append(out[uid], ref)
		return nil
	})
	return out, classify(err)
}

// List returns one page of the resources of kind that match q, as the
// SQLite store does (package store, read.go): unfiltered lists in creation
// order or by an indexed column are paged in SQL; anything else streams
// the candidates (an index lookup or every resource of kind, in creation
// order), tests the text, matches in Go and keeps the page or sort keys.
func (s *Store) List(ctx context.Context, kind store.Kind, q store.Query) (*store.Page, error) {
	if err := store.CheckKind(kind); err != nil {
		return nil, err
	}
	w := window{start: max(q.StartIndex, 1) - 1, count: max(q.Count, 0)}
	if w.count == 0 {
		q.Order = nil
	}
	if q.Lookup != nil && q.Order == nil && !(q.Members && kind == store.Group) {
		// One statement (Entra's match query, userName eq): no
		// transaction, whose BEGIN and COMMIT would triple the round trips.
		page, err := list(ctx, s.pool, kind, q, w)
		return page, classify(err)
	}
	var page *store.Page
	err := pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		var err error
		page, err = list(ctx, tx, kind, q, w)
		return err
	})
	return page, classify(err)
}

// querier is a transaction, or the pool for a single statement.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func list(ctx context.Context, tx querier, kind store.Kind, q store.Query, w window) (*store.Page, error) {
	withMembers := q.Members && kind == store.Group
	if q.Lookup == nil && q.Match == nil && q.Text == nil && (q.Order == nil || q.Order.Column != "") {
		return listSQL(ctx, tx, kind, w, q.Order, withMembers, !q.RawOnly)
	}
	var (
		rows pgx.Rows
		err  error
	)
	if q.Lookup == nil {
		rows, err = tx.Query(ctx, `SELECT `+resCols+` FROM resources WHERE kind = $1 ORDER BY rid`, string(kind))
	} else {
		var col, val string
		if col, val, err = store.LookupColumn(kind, q.Lookup); err != nil {
			return nil, err
		}
		if kind == store.User && q.Order == nil {
			// A lookup matches a user or a few: their groups come along.
			rows, err = tx.Query(ctx, `SELECT `+userCols+` FROM `+userFrom+` WHERE r.kind = 'User' AND r.`+col+` = $1 ORDER BY r.rid`, val)
		} else {
			rows, err = tx.Query(ctx, `SELECT `+resCols+` FROM resources WHERE kind = $1 AND `+col+` = $2 ORDER BY rid`, string(kind), val)
		}
	}
	if err != nil {
		return nil, err
	}
	text := q.Text.Compile()
	page := newPage()
	var ks []keyed
	preload := withMembers && q.MatchMembers && q.Match != nil
	// Match and Order read Doc; a page read as Raw only need not decode.
	decode := !q.RawOnly || q.Match != nil || q.Order != nil
	err = eachResource(kind, rows, text, decode, func(r *store.Resource, rid int64) {
		switch {
		case preload: // members.value filters: match once members are loaded
			page.add(r, rid)
		case q.Match != nil && !q.Match(r):
		case q.Order != nil:
			// Only the key: the page's documents are loaded once sorted, so
			// memory holds keys, not every matching document.
			ks = append(ks, keyed{key: q.Order.Key(r), rid: rid})
		default:
			if w.contains(page.Total) {
				page.add(r, rid)
			}
			page.Total++
		}
	})
	if err != nil {
		return nil, err
	}
	if preload {
		if err := loadMembers(ctx, tx, page.byRID); err != nil {
			return nil, err
		}
		withMembers = false
		for i, r := range page.Resources {
			if q.Match(r) {
				k := keyed{rid: page.rids[i], res: r}
				if q.Order != nil {
					k.key = q.Order.Key(r)
				}
				ks = append(ks, k)
			}
		}
	}
	if preload || q.Order != nil {
		if q.Order != nil {
			// Stable: candidates arrive in creation order, which breaks ties.
			slices.SortStableFunc(ks, func(a, b keyed) int { return q.Order.Compare(a.key, b.key) })
		}
		lo, hi := w.cut(len(ks))
		if !preload {
			if err := loadByRID(ctx, tx, kind, ks[lo:hi]); err != nil {
				return nil, err
			}
		}
		page = newPage()
		for _, k := range ks[lo:hi] {
			page.add(k.res, k.rid)
		}
		page.Total = len(ks)
	}
	if withMembers {
		if err := loadMembers(ctx, tx, page.byRID); err != nil {
			return nil, err
		}
	}
	return &page.Page, nil
}

// loadByRID sets res of each of ks from one query (same snapshot: all
// present).
func loadByRID(ctx context.Context, tx querier, kind store.Kind, ks []keyed) error {
	if len(ks) == 0 {
		return nil
	}
	rids := make([]int64, len(ks))
	at := make(map[int64]int, len(ks))
	for i, k := range ks {
		rids[i], at[k.rid] = k.rid, i
	}
	rows, err := tx.Query(ctx, `SELECT `+resCols+` FROM resources WHERE rid = ANY($1)`, rids)
	if err != nil {
		return err
	}
	return eachResource(kind, rows, nil, true, func(r *store.Resource, rid int64) { ks[at[rid]].res = r })
}

// listSQL pages in SQL: an unfiltered list in creation order or by an
// indexed column (unique within the kind: no ties).
func listSQL(ctx context.Context, tx querier, kind store.Kind, w window, order *store.Order, withMembers, decode bool) (*store.Page, error) {
	by := "rid"
	if order != nil {
		col, err := store.OrderColumn(order)
		if err != nil {
			return nil, err
		}
		by = col
		if order.Desc {
			by += " DESC"
		}
	}
	page := newPage()
	if err := tx.QueryRow(ctx, `SELECT n FROM counts WHERE kind = $1`, string(kind)).Scan(&page.Total); err != nil {
		return nil, err
	}
	if w.count == 0 || w.start >= page.Total {
		return &page.Page, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+resCols+` FROM resources WHERE kind = $1 ORDER BY `+by+` LIMIT $2 OFFSET $3`,
		string(kind), w.count, w.start)
	if err != nil {
		return nil, err
	}
	if err := eachResource(kind, rows, nil, decode, page.add); err != nil {
		return nil, err
	}
	if withMembers {
		if err := loadMembers(ctx, tx, page.byRID); err != nil {
			return nil, err
		}
	}
	return &page.Page, nil
}

// window is the 0-based slice of the matches a List returns.
type window struct{ start, count int }

func (w window) contains(i int) bool { return i >= w.start && i < w.start+w.count }

func (w window) cut(n int) (lo, hi int) { return min(w.start, n), min(w.start+w.count, n) }

// keyed is one match while sorting.
type keyed struct {
	key any
	rid int64
	res *store.Resource
}

// collected is a Page being built, with its resources' rids.
type collected struct {
	store.Page
	rids  []int64
	byRID map[int64]*store.Resource
}

func newPage() *collected {
	return &collected{Page: store.Page{Resources: []*store.Resource{}}, byRID: map[int64]*store.Resource{}}
}

func (c *collected) add(r *store.Resource, rid int64) {
	c.Resources = append(c.Resources, r)
	c.rids = append(c.rids, rid)
	c.byRID[rid] = r
}
