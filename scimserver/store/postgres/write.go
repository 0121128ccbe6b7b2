package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// maxAttempts bounds the runs of a transaction PostgreSQL aborted to break
// a deadlock (two replicas touching the same rows in opposite orders).
const maxAttempts = 3

// inTx runs fn in a transaction, again when PostgreSQL chose it as a
// deadlock victim, and classifies the error.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		var pe *pgconn.PgError
		if attempt < maxAttempts && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		return classify(err)
	}
}

// Create inserts r (and a group's members) and its events in one
// transaction and sets r.Created, r.LastModified and r.Version.
func (s *Store) Create(ctx context.Context, r *store.Resource) error {
	if err := store.CheckKind(r.Kind); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("postgres: Create without an id")
	}
	if r.Kind == store.User && len(r.Members) > 0 {
		return errors.New("postgres: a User has no members")
	}
	enc, err := json.Marshal(r.Doc)
	if err != nil {
		return fmt.Errorf("postgres: encode document: %w", err)
	}
	now := s.now().UTC()
	ix := store.IndexOf(r.Kind, r.Doc)
	args := []any{string(r.Kind), r.ID, string(enc), now.UnixNano(), ix.UserName, ix.ExternalID, ix.DisplayName, ix.DisplayFolded}
	err = s.writes.Submit(ctx, func(ctx context.Context, tx dbtx) (tailPart, error) {
		b := store.NewEventBatch(ctx, now)
		changes := &store.MemberChanges{}
		if len(r.Members) == 0 {
			if _, err := tx.Exec(ctx, insertResource, args...); err != nil {
				return tailPart{}, conflict(err, r.Kind, r.ID, r.Doc)
			}
		} else {
			var rid int64
			if err := tx.QueryRow(ctx, insertResource+` RETURNING rid`, args...).Scan(&rid); err != nil {
				return tailPart{}, conflict(err, r.Kind, r.ID, r.Doc)
			}
			if err := applyMemberOps(ctx, tx, rid, []store.MemberOp{{Kind: store.MemberAdd, Members: r.Members}}, changes); err != nil {
				return tailPart{}, err
			}
		}
		if err := b.Created(r, enc, changes); err != nil {
			return tailPart{}, err
		}
		return tailPart{kind: r.Kind, delta: 1, now: now.UnixNano(), events: b}, nil
	})
	if err != nil {
		return err
	}
	s.events.Notify()
	r.Created, r.LastModified, r.Version = now, now, 1
	return nil
}

const insertResource = `INSERT INTO resources
	(kind, id, doc, created, last_modified, version, user_name_folded, external_id, display_name, display_name_folded)
	VALUES ($1, $2, $3, $4, $4, 1, $5, $6, $7, $8)`

// Update locks the row (SELECT ... FOR NO KEY UPDATE: a replica updating
// the same resource waits; a member add naming the user, whose foreign key
// check takes a key-share lock, does not), calls mutate and writes its
// result with its events.
// The returned Resource has no Members.
func (s *Store) Update(ctx context.Context, kind store.Kind, id string,
	mutate func(cur *store.Resource) (map[string]any, []store.MemberOp, error)) (*store.Resource, error) {
	if err := store.CheckKind(kind); err != nil {
		return nil, err
	}
	var out *store.Resource
	err := s.writes.Submit(ctx, func(ctx context.Context, tx dbtx) (tailPart, error) {
		out = nil
		cur, rid, err := scanResource(kind, tx.QueryRow(ctx,
			`SELECT `+resCols+` FROM resources WHERE kind = $1 AND id = $2 FOR NO KEY UPDATE`, string(kind), id), true, false)
		if err != nil {
			return tailPart{}, err
		}
		doc, ops, err := mutate(cur)
		if err != nil {
			return tailPart{}, err
		}
		if doc == nil {
			doc = cur.Doc
		}
		if kind == store.User && len(ops) > 0 {
			return tailPart{}, errors.New("postgres: a User has no members")
		}
		enc, err := json.Marshal(doc)
		if err != nil {
			return tailPart{}, fmt.Errorf("postgres: encode document: %w", err)
		}
		now := s.now().UTC()
		ix := store.IndexOf(kind, doc)
		const update = `UPDATE resources SET doc = $1, last_modified = $2, version = $3,
			user_name_folded = $4, external_id = $5, display_name = $6, display_name_folded = $7 WHERE rid = $8`
		args := []any{string(enc), now.UnixNano(), cur.Version + 1, ix.UserName, ix.ExternalID, ix.DisplayName, ix.DisplayFolded, rid}
		changes := &store.MemberChanges{}
		if len(ops) == 0 {
			if _, err := tx.Exec(ctx, update, args...); err != nil {
				return tailPart{}, conflict(err, kind, id, doc)
			}
		} else {
			// The UPDATE goes out with the first member statement (one
			// round trip less per member PATCH); its unique violation
			// (displayName taken) surfaces there. Member statements
			// never violate a unique index (ON CONFLICT DO NOTHING).
			tx.Later(update, args...)
			if err := applyMemberOps(ctx, tx, rid, ops, changes); err != nil {
				return tailPart{}, conflict(err, kind, id, doc)
			}
		}
		b := store.NewEventBatch(ctx, now)
		if err := b.Updated(kind, cur, doc, enc, changes); err != nil {
			return tailPart{}, err
		}
		out = &store.Resource{Kind: kind, ID: id, Doc: doc, Created: cur.Created, LastModified: now, Version: cur.Version + 1}
		return tailPart{kind: kind, now: now.UnixNano(), events: b}, nil
	})
	if err != nil {
		return nil, err
	}
	s.events.Notify()
	return out, nil
}

const (
	addMember = `INSERT INTO members (group_rid, member_rid)
		SELECT $1, rid FROM resources WHERE kind = 'User' AND id = $2 ON CONFLICT DO NOTHING`
	userExists   = `SELECT 1 FROM resources WHERE kind = 'User' AND id = $1`
	removeMember = `DELETE FROM members WHERE group_rid = $1
		AND member_rid = (SELECT rid FROM resources WHERE kind = 'User' AND id = $2)`
)

// applyMemberOps applies ops in order, one row per member (a member add
// never rewrites a big group), each op's rows in one round trip, and
// records each member's state before and after for the events.
func applyMemberOps(ctx context.Context, tx dbtx, group int64, ops []store.MemberOp, changes *store.MemberChanges) error {
	for _, op := range ops {
		switch op.Kind {
		case store.MemberAdd, store.MemberRemove:
			q := addMember
			if op.Kind == store.MemberRemove {
				q = removeMember
			}
			n, err := batchExec(ctx, tx, q, group, op.Members)
			if err != nil {
				return err
			}
			for i, m := range op.Members {
				if op.Kind == store.MemberRemove {
					changes.Saw(m.Value, n[i] == 1, false) // removing a non-member is no error
					continue
				}
				if n[i] == 1 {
					changes.Saw(m.Value, false, true)
					continue
				}
				// Nothing inserted: already a member (fine) or no such user.
				var one int
				switch err := tx.QueryRow(ctx, userExists, m.Value).Scan(&one); {
				case errors.Is(err, pgx.ErrNoRows):
					return notAUser(m.Value)
				case err != nil:
					return err
				}
				changes.Saw(m.Value, true, true)
			}
		case store.MemberClear:
			rows, err := tx.Query(ctx, `SELECT r.id FROM members m JOIN resources r ON r.rid = m.member_rid
				WHERE m.group_rid = $1 ORDER BY m.member_rid`, group)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, id := range ids {
				changes.Saw(id, true, false)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM members WHERE group_rid = $1`, group); err != nil {
				return err
			}
		default:
			return fmt.Errorf("postgres: unknown member operation %q", op.Kind)
		}
	}
	return nil
}

// batchExec runs q(group, member) for each member in one round trip and
// returns the rows each affected.
func batchExec(ctx context.Context, tx dbtx, q string, group int64, members []store.Member) ([]int64, error) {
	b := &pgx.Batch{}
	for _, m := range members {
		b.Queue(q, group, m.Value)
	}
	br := tx.SendBatch(ctx, b)
	n := make([]int64, len(members))
	for i, m := range members {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" {
				// The user was deleted by a transaction that committed
				// while this one waited for its row.
				return nil, notAUser(m.Value)
			}
			return nil, err
		}
		n[i] = tag.RowsAffected()
	}
	return n, br.Close()
}

func notAUser(id string) error {
	return scimerr.BadRequest(scimerr.InvalidValue, "member %q is not an existing User", id)
}

// Delete removes the resource and appends its events: a deleted user
// leaves every group (one group.member_removed each), member rows cascade.
func (s *Store) Delete(ctx context.Context, kind store.Kind, id string) error {
	if err := store.CheckKind(kind); err != nil {
		return err
	}
	now := s.now().UTC()
	err := s.writes.Submit(ctx, func(ctx context.Context, tx dbtx) (tailPart, error) {
		var (
			rid, created, modified, version int64
			raw                             string
		)
		err := tx.QueryRow(ctx, `SELECT rid, doc, created, last_modified, version FROM resources
			WHERE kind = $1 AND id = $2 FOR UPDATE`, string(kind), id).Scan(&rid, &raw, &created, &modified, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return tailPart{}, store.ErrNotFound
		}
		if err != nil {
			return tailPart{}, err
		}
		b := store.NewEventBatch(ctx, now)
		if kind == store.User {
			rows, err := tx.Query(ctx, `SELECT g.id, g.doc, g.created, g.last_modified, g.version
				FROM members m JOIN resources g ON g.rid = m.group_rid
				WHERE m.member_rid = $1 ORDER BY g.rid`, rid)
			if err != nil {
				return tailPart{}, err
			}
			var (
				gid, gdoc                string
				gcreated, gmod, gversion int64
			)
			_, err = pgx.ForEachRow(rows, []any{&gid, &gdoc, &gcreated, &gmod, &gversion}, func() error {
				return b.LeftGroup(gid, []byte(gdoc), gcreated, gmod, gversion, id)
			})
			if err != nil {
				return tailPart{}, err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM resources WHERE rid = $1`, rid); err != nil {
			return tailPart{}, err
		}
		if err := b.Deleted(kind, id, []byte(raw), created, modified, version); err != nil {
			return tailPart{}, err
		}
		return tailPart{kind: kind, delta: -1, now: now.UnixNano(), events: b}, nil
	})
	if err != nil {
		return err
	}
	s.events.Notify()
	return nil
}

// conflict turns a unique violation into a 409 naming the attribute and
// value; other errors pass through.
func conflict(err error, kind store.Kind, id string, doc map[string]any) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return err
	}
	switch pe.ConstraintName {
	case "resources_user_name":
		return scimerr.Conflict("userName %q is already taken by another %s", doc["userName"], kind)
	case "resources_group_name":
		return scimerr.Conflict("displayName %q is already taken by another %s", doc["displayName"], kind)
	case "resources_id":
		return scimerr.Conflict("id %q is already taken by another %s", id, kind)
	}
	return err
}
