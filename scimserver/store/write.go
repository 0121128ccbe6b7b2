package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// indexed holds the column values derived from a document.
type indexed struct {
	userName, externalID, displayName, displayFolded any // string or nil (NULL)
}

func indexOf(kind Kind, doc map[string]any) indexed {
	var ix indexed
	str := func(k string) (string, bool) {
		s, ok := doc[k].(string)
		return s, ok && s != ""
	}
	if kind == User {
		if s, ok := str("userName"); ok {
			ix.userName = Fold(s)
		}
	}
	if s, ok := str("externalId"); ok {
		ix.externalID = s
	}
	if s, ok := str("displayName"); ok {
		ix.displayName = s
		ix.displayFolded = Fold(s)
	}
	return ix
}

// ixSet says which indexed column groups an UPDATE sets.
type ixSet uint8

const (
	ixUserName ixSet = 1 << iota
	ixExternalID
	ixDisplayName // display_name and display_name_folded
	ixAll         = ixUserName | ixExternalID | ixDisplayName
)

// changed lists the column groups whose values differ between ix and to.
// SQLite rewrites an index entry for every indexed column an UPDATE sets,
// even to the value it had: setting all of them cost a PATCH of a
// non-indexed attribute four WAL frames instead of one (measured,
// docs/benchmarks.md), and each frame is written and checksummed at
// commit and again at checkpoint.
func (ix indexed) changed(to indexed) ixSet {
	var set ixSet
	if ix.userName != to.userName {
		set |= ixUserName
	}
	if ix.externalID != to.externalID {
		set |= ixExternalID
	}
	if ix.displayName != to.displayName || ix.displayFolded != to.displayFolded {
		set |= ixDisplayName
	}
	return set
}

// updateSQL is the UPDATE of a resource's document, last_modified and
// version that also sets the column groups in set. Its parameters are
// doc, last_modified, version, then the set columns in the order of
// indexed's fields, then rid (see updateArgs).
func updateSQL(set ixSet) string {
	q := `UPDATE resources SET doc = ?, last_modified = ?, version = ?`
	if set&ixUserName != 0 {
		q += `, user_name_folded = ?`
	}
	if set&ixExternalID != 0 {
		q += `, external_id = ?`
	}
	if set&ixDisplayName != 0 {
		q += `, display_name = ?, display_name_folded = ?`
	}
	return q + ` WHERE rid = ?`
}

// updateArgs are the parameters of updateSQL(set).
func updateArgs(set ixSet, doc []byte, modified, version int64, ix indexed, rid int64) []any {
	args := make([]any, 0, 8)
	args = append(args, doc, modified, version)
	if set&ixUserName != 0 {
		args = append(args, ix.userName)
	}
	if set&ixExternalID != 0 {
		args = append(args, ix.externalID)
	}
	if set&ixDisplayName != 0 {
		args = append(args, ix.displayName, ix.displayFolded)
	}
	return append(args, rid)
}

func checkKind(kind Kind) error {
	if kind != User && kind != Group {
		return fmt.Errorf("store: unknown kind %q", kind)
	}
	return nil
}

// Create inserts r (and, for a group, its members) in one transaction and
// sets r.Created, r.LastModified and r.Version.
func (s *SQLite) Create(ctx context.Context, r *Resource) error {
	if err := checkKind(r.Kind); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("store: Create without an id")
	}
	if r.Kind == User && len(r.Members) > 0 {
		return errors.New("store: a User has no members")
	}
	doc, err := json.Marshal(r.Doc)
	if err != nil {
		return fmt.Errorf("store: encode document: %w", err)
	}
	now := s.now().UTC()
	ix := indexOf(r.Kind, r.Doc)

	var ew *eventWriter
	err = s.writes.Submit(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.in(tx, s.stmts.insert).ExecContext(ctx,
			string(r.Kind), r.ID, doc, now.UnixNano(), now.UnixNano(),
			ix.userName, ix.externalID, ix.displayName, ix.displayFolded)
		if err != nil {
			return conflict(err, r.Kind, r.ID, r.Doc)
		}
		ew = s.eventWriter(ctx, tx, now)
		var track *memberTracker
		if ew != nil {
			track = &memberTracker{}
		}
		if len(r.Members) > 0 {
			rid, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if err := s.applyMemberOps(ctx, tx, rid, []MemberOp{{Kind: MemberAdd, Members: r.Members}}, track); err != nil {
				return err
			}
		}
		if ew != nil {
			return ew.logCreate(r, doc, track.deltas())
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.committed(ew)
	r.Created, r.LastModified, r.Version, r.Raw = now, now, 1, doc
	return nil
}

// Update reads the current resource, calls mutate and writes its result, all
// in one write transaction: writes are serialised, so concurrent updates of
// one resource never lose each other's changes. cur.Members is not loaded
// (member changes are deltas, see MemberOp). A nil doc from mutate keeps the
// current document. The returned Resource has no Members.
func (s *SQLite) Update(ctx context.Context, kind Kind, id string,
	mutate func(cur *Resource) (map[string]any, []MemberOp, error)) (*Resource, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	var (
		out *Resource
		ew  *eventWriter
	)
	err := s.writes.Submit(ctx, func(ctx context.Context, tx *sql.Tx) error {
		cur, rid, err := scanResource(kind, s.in(tx, s.stmts.forUpdate).QueryRowContext(ctx, string(kind), id))
		if err != nil {
			return err
		}
		// Before mutate, which may change cur.Doc in place.
		was := indexOf(kind, cur.Doc)
		doc, ops, err := mutate(cur)
		if err != nil {
			return err
		}
		if doc == nil {
			doc = cur.Doc
		}
		if kind == User && len(ops) > 0 {
			return errors.New("store: a User has no members")
		}
		enc, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("store: encode document: %w", err)
		}
		now := s.now().UTC()
		ix := indexOf(kind, doc)
		set := was.changed(ix)
		if _, err := s.in(tx, s.stmts.update[set]).ExecContext(ctx,
			updateArgs(set, enc, now.UnixNano(), cur.Version+1, ix, rid)...); err != nil {
			return conflict(err, kind, id, doc)
		}
		ew = s.eventWriter(ctx, tx, now)
		var track *memberTracker
		if ew != nil {
			track = &memberTracker{}
		}
		if err := s.applyMemberOps(ctx, tx, rid, ops, track); err != nil {
			return err
		}
		if ew != nil {
			if err := ew.logUpdate(kind, cur, doc, enc, track.deltas()); err != nil {
				return err
			}
		}
		groups := cur.Groups // [] when the read probed none
		if kind == User && groups == nil {
			if groups, err = userGroups(ctx, s.in(tx, s.stmts.userGroups), rid); err != nil {
				return err
			}
		}
		out = &Resource{Kind: kind, ID: id, Doc: doc, Raw: enc, Created: cur.Created, LastModified: now, Version: cur.Version + 1,
			Groups: groups}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.committed(ew)
	return out, nil
}

// userGroups reads the groups of the user rid (never nil).
func userGroups(ctx context.Context, st *sql.Stmt, rid int64) ([]GroupRef, error) {
	rows, err := st.QueryContext(ctx, rid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []GroupRef{}
	for rows.Next() {
		var (
			gid  string
			name sql.NullString
		)
		if err := rows.Scan(&gid, &name); err != nil {
			return nil, err
		}
		out = append(out, GroupRef{ID: gid, DisplayName: name.String})
	}
	return out, rows.Err()
}

// applyMemberOps applies ops in order, one row per member, so a large group
// costs only the rows that change. track, when not nil, records each
// member's state before and after (the change log's member events).
func (s *SQLite) applyMemberOps(ctx context.Context, tx *sql.Tx, group int64, ops []MemberOp, track *memberTracker) error {
	var add, exists, remove *sql.Stmt
	for _, op := range ops {
		switch op.Kind {
		case MemberAdd:
			if add == nil {
				add = s.in(tx, s.stmts.addMember)
				exists = s.in(tx, s.stmts.userExists)
			}
			for _, m := range op.Members {
				res, err := add.ExecContext(ctx, group, m.Value)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 1 {
					track.saw(m.Value, false, true)
					continue
				}
				// Nothing inserted: already a member (fine) or no such user.
				var one int
				switch err := exists.QueryRowContext(ctx, m.Value).Scan(&one); {
				case errors.Is(err, sql.ErrNoRows):
					return scimerr.BadRequest(scimerr.InvalidValue, "member %q is not an existing User", m.Value)
				case err != nil:
					return err
				}
				track.saw(m.Value, true, true)
			}
		case MemberRemove:
			if remove == nil {
				remove = s.in(tx, s.stmts.removeMember)
			}
			for _, m := range op.Members {
				// Removing a non-member is not an error.
				res, err := remove.ExecContext(ctx, group, m.Value)
				if err != nil {
					return err
				}
				if track != nil {
					n, err := res.RowsAffected()
					if err != nil {
						return err
					}
					track.saw(m.Value, n == 1, false)
				}
			}
		case MemberClear:
			if track != nil {
				if err := s.trackClear(ctx, tx, group, track); err != nil {
					return err
				}
			}
			if _, err := s.in(tx, s.stmts.clear).ExecContext(ctx, group); err != nil {
				return err
			}
		default:
			return fmt.Errorf("store: unknown member operation %q", op.Kind)
		}
	}
	return nil
}

// Delete removes the resource. Foreign keys cascade: a deleted user leaves
// every group and a deleted group drops its member rows.
func (s *SQLite) Delete(ctx context.Context, kind Kind, id string) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if !s.noEvents {
		return s.deleteWithEvents(ctx, kind, id)
	}
	res, err := s.stmts.deleteRes.ExecContext(ctx, string(kind), id)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// deleteWithEvents is Delete with the change log: one transaction reads
// what the events need, deletes and appends them.
func (s *SQLite) deleteWithEvents(ctx context.Context, kind Kind, id string) error {
	var ew *eventWriter
	err := s.writes.Submit(ctx, func(ctx context.Context, tx *sql.Tx) error {
		ew = s.eventWriter(ctx, tx, s.now().UTC())
		return s.deleteLogged(ctx, tx, ew, kind, id)
	})
	if err != nil {
		return err
	}
	s.committed(ew)
	return nil
}

// trackClear records every current member of group as leaving.
func (s *SQLite) trackClear(ctx context.Context, tx *sql.Tx, group int64, track *memberTracker) error {
	rows, err := s.in(tx, s.stmts.memberIDs).QueryContext(ctx, group)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		track.saw(id, true, false)
	}
	return rows.Err()
}

// SQLite extended result codes for constraint violations.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// conflict turns a uniqueness violation into a 409 naming the attribute and
// value; other errors pass through.
func conflict(err error, kind Kind, id string, doc map[string]any) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || (se.Code() != sqliteConstraintUnique && se.Code() != sqliteConstraintPrimaryKey) {
		return err
	}
	msg := se.Error()
	switch {
	case strings.Contains(msg, "user_name_folded"):
		return scimerr.Conflict("userName %q is already taken by another %s", doc["userName"], kind)
	case strings.Contains(msg, "display_name_folded"):
		return scimerr.Conflict("displayName %q is already taken by another %s", doc["displayName"], kind)
	case strings.Contains(msg, "resources.id"):
		return scimerr.Conflict("id %q is already taken by another %s", id, kind)
	}
	return err
}
