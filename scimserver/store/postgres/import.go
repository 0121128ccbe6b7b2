package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Import copies resources into an empty schema exactly as they are: ids,
// documents, versions, created and lastModified, group members (users
// first, then groups; members name users by id). It is the one-shot move
// of a SQLite tenant (scimserver migrate), in one transaction: a failure
// leaves the schema empty. The change log is not copied and gets no
// events: it starts empty, and feed readers resync (their cursors are
// ahead of the new log, which ReadEvents reports as expired).
func (s *Store) Import(ctx context.Context, users, groups []*store.Resource) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM resources`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("postgres: schema %s already holds %d resources: import only into an empty schema", s.schema, n)
		}
		rows := make([][]any, 0, len(users)+len(groups))
		var gids, uids []string
		for _, set := range [][]*store.Resource{users, groups} {
			for _, r := range set {
				if err := store.CheckKind(r.Kind); err != nil {
					return err
				}
				enc, err := json.Marshal(r.Doc)
				if err != nil {
					return fmt.Errorf("postgres: encode %s %s: %w", r.Kind, r.ID, err)
				}
				ix := store.IndexOf(r.Kind, r.Doc)
				rows = append(rows, []any{string(r.Kind), r.ID, string(enc), r.Created.UnixNano(), r.LastModified.UnixNano(),
					r.Version, ix.UserName, ix.ExternalID, ix.DisplayName, ix.DisplayFolded})
				for _, m := range r.Members {
					gids, uids = append(gids, r.ID), append(uids, m.Value)
				}
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"resources"},
			[]string{"kind", "id", "doc", "created", "last_modified", "version", "user_name_folded", "external_id", "display_name", "display_name_folded"},
			pgx.CopyFromRows(rows)); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return fmt.Errorf("postgres: two source resources collide on %s (%s)", pe.ConstraintName, pe.Detail)
			}
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO members (group_rid, member_rid)
			SELECT g.rid, u.rid FROM unnest($1::text[], $2::text[]) AS m(gid, uid)
			JOIN resources g ON g.kind = 'Group' AND g.id = m.gid
			JOIN resources u ON u.kind = 'User' AND u.id = m.uid
			ON CONFLICT DO NOTHING`, gids, uids)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(gids) {
			return fmt.Errorf("postgres: %d of %d memberships name no imported user (or repeat one)", len(gids)-int(tag.RowsAffected()), len(gids))
		}
		_, err = tx.Exec(ctx, `UPDATE counts SET n = $1 WHERE kind = 'User'`, len(users))
		if err == nil {
			_, err = tx.Exec(ctx, `UPDATE counts SET n = $1 WHERE kind = 'Group'`, len(groups))
		}
		return err
	})
}
