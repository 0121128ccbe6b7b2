package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Column list shared by every query that builds a Resource (see
// scanResource). The last says whether the resource is a member of any
// group, an index probe that spares a user in no group the GroupsOf
// query its response would need (Resource.Groups).
const resCols = scanCols + `, EXISTS (SELECT 1 FROM members WHERE member_rid = resources.rid)`

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
	lookup                 map[Kind]map[string]*sql.Stmt // by kind, then Lookup.Attr
	all                    []*sql.Stmt
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

	s.get = p(r, `SELECT `+resCols+` FROM resources WHERE kind = ? AND id = ?`)
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
	s.lookup = map[Kind]map[string]*sql.Stmt{}
	for _, kind := range []Kind{User, Group} {
		s.lookup[kind] = map[string]*sql.Stmt{}
		for attr := range lookupCols {
			s.lookup[kind][attr] = p(r, lookupSQL(kind, attr))
		}
	}
	return errors.Join(errs...)
}

func (s *stmts) close() {
	for _, st := range s.all {
		st.Close()
	}
}

// lookupCols maps a Lookup.Attr to its indexed column. userName and
// displayName are case-insensitive in SCIM, so they are compared folded.
var lookupCols = map[string]string{
	"id":          "id",
	"userName":    "user_name_folded",
	"externalId":  "external_id",
	"displayName": "display_name_folded",
}

// lookupSQL selects the resources of kind whose attr column equals the
// parameter. The kind is a literal, not a parameter: the name indexes are
// partial (migration 5), and SQLite uses a partial index only when the
// statement's text implies its WHERE clause.
func lookupSQL(kind Kind, attr string) string {
	return `SELECT ` + resCols + ` FROM resources WHERE kind = ` + kindLiteral(kind) + ` AND ` + lookupCols[attr] + ` = ? ORDER BY rid`
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
