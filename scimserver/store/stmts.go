package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Column list of Update's read of the current resource (see
// scanResource). The last says whether the resource is a member of any
// group, an index probe that spares a user in no group the query for
// the groups its response needs (Resource.Groups).
const resCols = scanCols + `, EXISTS (SELECT 1 FROM members WHERE member_rid = resources.rid)`

// readCols is the column list of every read that answers with resources
// (get, lookups, pages). The last is the resource's groups as a JSON array
// of [id, displayName], in GroupsOf's order, from the same snapshot as the
// document: the response needs no second statement (GroupsOf was a fifth
// of a GET's CPU and of a page's). For a resource in no group it is
// resCols' EXISTS probe: the aggregate's ORDER BY opens a sorter, a
// quarter of a one-row read for a user in no group.
const readCols = scanCols + `, CASE WHEN EXISTS (SELECT 1 FROM members WHERE member_rid = resources.rid)
	THEN (SELECT json_group_array(json_array(g.id, g.display_name) ORDER BY g.rid)
		FROM members m JOIN resources g ON g.rid = m.group_rid WHERE m.member_rid = resources.rid)
	ELSE '[]' END AS group_refs`

// scanCols are resCols without the group probe, for full scans: most of
// their rows are never returned.
const scanCols = `rid, id, doc, created, last_modified, version`

// stmts are prepared once: parsing SQL costs more than running these
// index lookups. Write statements are bound to the writer connection and
// used inside transactions through tx.StmtContext.
type stmts struct {
	// writer
	insert, forUpdate, deleteRes               *sql.Stmt
	update                                     [ixAll + 1]*sql.Stmt // by the index columns it sets (write.go)
	addMember, userExists, removeMember, clear *sql.Stmt
	userGroups                                 *sql.Stmt
	savepoint, release, rollbackTo             *sql.Stmt // group commit
	// change log (eventwrite.go, eventread.go)
	insertEvent, rawForDelete, deleteRID, groupsOfRID, memberIDs *sql.Stmt
	readEvents, eventHead, eventRange, eventTime, pruneEvents    *sql.Stmt
	// readers
	get, members, groupsOf *sql.Stmt
	lookup                 map[pageKey]*sql.Stmt // by kind and Lookup.Attr
	// page cuts an unfiltered page (pageQuery), by kind and ORDER BY;
	// parsing the statement on every request was a tenth of a page's CPU.
	page map[pageKey]*sql.Stmt
	all  []*sql.Stmt
}

func (s *stmts) prepare(ctx context.Context, w, r *sql.DB, events bool) error {
	var errs []error
	p := func(db *sql.DB, q string) *sql.Stmt {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			errs = append(errs, fmt.Errorf("store: prepare %q: %w", q, err))
			return nil
		}
		s.all = append(s.all, st)
		return st
	}
	s.insert = p(w, `INSERT INTO resources
		(kind, id, doc, created, last_modified, version, user_name_folded, external_id, display_name, display_name_folded)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`)
	s.forUpdate = p(w, `SELECT `+resCols+` FROM resources WHERE kind = ? AND id = ?`)
	for set := range s.update {
		s.update[set] = p(w, updateSQL(ixSet(set)))
	}
	s.deleteRes = p(w, `DELETE FROM resources WHERE kind = ? AND id = ?`)
	s.addMember = p(w, `INSERT OR IGNORE INTO members (group_rid, member_rid)
		SELECT ?, rid FROM resources WHERE kind = 'User' AND id = ?`)
	s.userExists = p(w, `SELECT 1 FROM resources WHERE kind = 'User' AND id = ?`)
	s.removeMember = p(w, `DELETE FROM members WHERE group_rid = ?
		AND member_rid = (SELECT rid FROM resources WHERE kind = 'User' AND id = ?)`)
	s.clear = p(w, `DELETE FROM members WHERE group_rid = ?`)
	s.savepoint = p(w, `SAVEPOINT write`)
	s.release = p(w, `RELEASE write`)
	s.rollbackTo = p(w, `ROLLBACK TO write`)
	// A user's groups as GroupsOf orders them, read inside Update's
	// transaction so the response needs no read transaction of its own.
	s.userGroups = p(w, `SELECT g.id, g.display_name FROM members m JOIN resources g ON g.rid = m.group_rid
		WHERE m.member_rid = ? ORDER BY g.rid`)

	s.get = p(r, `SELECT `+readCols+` FROM resources WHERE kind = ? AND id = ?`)
	s.members = p(r, memberQuery(`m.group_rid = ?`))
	// One JSON array parameter instead of N placeholders: no variable
	// limit, and one statement text whatever the batch size, so it can be
	// prepared (parsing it cost nearly half of a GET's CPU).
	s.groupsOf = p(r, `SELECT u.id, g.id, g.display_name
		FROM resources u
		JOIN members m ON m.member_rid = u.rid
		JOIN resources g ON g.rid = m.group_rid
		WHERE u.kind = 'User' AND u.id IN (SELECT value FROM json_each(?))
		ORDER BY u.id, g.rid`)
	if events {
		s.insertEvent = p(w, `INSERT INTO events (id, type, time, kind, resource_id, data) VALUES (?, ?, ?, ?, ?, ?)`)
		s.rawForDelete = p(w, `SELECT rid, doc, created, last_modified, version FROM resources WHERE kind = ? AND id = ?`)
		s.deleteRID = p(w, `DELETE FROM resources WHERE rid = ?`)
		s.groupsOfRID = p(w, `SELECT g.id, g.doc, g.created, g.last_modified, g.version
			FROM members m JOIN resources g ON g.rid = m.group_rid
			WHERE m.member_rid = ? ORDER BY g.rid`)
		s.memberIDs = p(w, `SELECT r.id FROM members m JOIN resources r ON r.rid = m.member_rid
			WHERE m.group_rid = ? ORDER BY m.member_rid`)
		// The newest event is never pruned, so max(seq) is the head.
		s.eventHead = p(r, `SELECT coalesce(max(seq), 0) FROM events`)
		s.readEvents = p(r, `SELECT seq, id, type, time, kind, resource_id, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?`)
		s.eventRange = p(r, `SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events`)
		s.eventTime = p(r, `SELECT time FROM events WHERE seq = ?`)
		// One batch from the oldest event, never past the cut: the log loses
		// only a prefix, whatever the clock did between writes.
		s.pruneEvents = p(w, `DELETE FROM events WHERE seq <= ? AND seq < (SELECT min(seq) FROM events) + ?`)
	}
	// The kind is written into the statements, not bound: a bound kind
	// is compared with the partial index resources_group_name's WHERE
	// kind = 'Group' while planning, so SQLite prepared the statement
	// again on every run whose plan was not a unique-index shortcut (a
	// page, a displayName or externalId lookup).
	s.lookup = map[pageKey]*sql.Stmt{}
	s.page = map[pageKey]*sql.Stmt{}
	for _, kind := range []Kind{User, Group} {
		for attr, col := range lookupCols {
			s.lookup[pageKey{kind, attr}] = p(r, lookupQuery(kind, col))
		}
		for _, by := range pageOrders() {
			s.page[pageKey{kind, by}] = p(r, pageQuery(kind, by))
		}
	}
	return errors.Join(errs...)
}

func (s *stmts) close() {
	for _, st := range s.all {
		st.Close()
	}
}

// pageKey selects a prepared statement by kind and a name: a page's ORDER
// BY or a lookup's attribute.
type pageKey struct {
	kind Kind
	by   string
}

// lookupQuery selects the resources of kind whose col equals the one
// parameter. The kind is a literal, not a parameter: the name indexes are
// partial (migration 5), SQLite uses a partial index only when the
// statement's text implies its WHERE clause, and a bound kind made it
// prepare the statement again on every run (see the lookup statements).
func lookupQuery(kind Kind, col string) string {
	return `SELECT ` + readCols + ` FROM resources WHERE kind = ` + kindLiteral(kind) + ` AND ` + col + ` = ? ORDER BY rid`
}

// lookupCols maps a Lookup.Attr to its indexed column. userName and
// displayName are case-insensitive in SCIM, so they are compared folded.
var lookupCols = map[string]string{
	"id":          "id",
	"userName":    "user_name_folded",
	"externalId":  "external_id",
	"displayName": "display_name_folded",
}

// kindLiteral is kind as an SQL string literal.
func kindLiteral(kind Kind) string {
	return `'` + strings.ReplaceAll(string(kind), `'`, `''`) + `'`
}

// memberQuery selects group_rid, member id and display for the groups
// selected by where (on members m).
func memberQuery(where string) string {
	return `SELECT m.group_rid, r.id, r.display_name FROM members m
		JOIN resources r ON r.rid = m.member_rid
		WHERE ` + where + ` ORDER BY m.group_rid, m.member_rid`
}
