package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Webhook delivery state (table deliveries, migration 3): per webhook, the
// last event the receiver acknowledged and the lease that says which server
// replica delivers it. Package delivery reads and writes it through these
// methods; every change is one statement, so two replicas racing for a
// lease or an ack are serialised by the database and exactly one wins.

// AcquireLease gives the lease of webhook to owner until until, when nobody
// holds it, its holder's lease ended before now, or owner already holds it
// (renewal). It reports the acknowledged cursor and whether owner holds the
// lease afterwards. A webhook seen for the first time starts at cursor 0
// (the oldest retained event).
func (s *SQLite) AcquireLease(ctx context.Context, webhook, owner string, now, until time.Time) (acked int64, held bool, err error) {
	if webhook == "" || owner == "" {
		return 0, false, errors.New("store: AcquireLease needs a webhook and an owner")
	}
	err = s.w.QueryRowContext(ctx, `
INSERT INTO deliveries (webhook, acked, owner, lease_until, updated) VALUES (?1, 0, ?2, ?3, ?4)
ON CONFLICT (webhook) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, updated = excluded.updated
WHERE deliveries.owner IS NULL OR deliveries.owner = excluded.owner OR deliveries.lease_until < ?4
RETURNING acked`, webhook, owner, until.UnixNano(), now.UnixNano()).Scan(&acked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil // someone else holds a live lease
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: acquiring the delivery lease of %s: %w", webhook, err)
	}
	return acked, true, nil
}

// Ack moves the acknowledged cursor of webhook forward to seq, if owner
// still holds the lease (compare-and-set). It reports false when the lease
// was lost to another replica; the cursor is then left alone. A seq at or
// behind the stored cursor is a no-op that still reports the lease.
func (s *SQLite) Ack(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `
UPDATE deliveries SET acked = max(acked, ?1), updated = ?2 WHERE webhook = ?3 AND owner = ?4`,
		seq, now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("store: acknowledging %s up to %d: %w", webhook, seq, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// SetCursor moves the cursor of webhook to seq in either direction (a
// resync after the cursor expired), if owner holds the lease.
func (s *SQLite) SetCursor(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `
UPDATE deliveries SET acked = ?1, updated = ?2 WHERE webhook = ?3 AND owner = ?4`,
		seq, now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("store: moving the cursor of %s to %d: %w", webhook, seq, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// ReleaseLease gives up owner's lease of webhook (graceful shutdown, or the
// webhook was removed), so another replica can take over at once instead of
// waiting for the lease to run out. The cursor stays.
func (s *SQLite) ReleaseLease(ctx context.Context, webhook, owner string) error {
	_, err := s.w.ExecContext(ctx, `
UPDATE deliveries SET owner = NULL, lease_until = NULL WHERE webhook = ?1 AND owner = ?2`, webhook, owner)
	if err != nil {
		return fmt.Errorf("store: releasing the delivery lease of %s: %w", webhook, err)
	}
	return nil
}

// SetDeliveryStatus stores status, the lease holder's delivery status
// document (JSON, opaque here), for the other replicas to report, if owner
// still holds the lease of webhook (compare-and-set, like Ack). It reports
// false when the lease was lost; the stored status is then left alone.
func (s *SQLite) SetDeliveryStatus(ctx context.Context, webhook, owner string, status []byte, now time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `
UPDATE deliveries SET status = ?1, updated = ?2 WHERE webhook = ?3 AND owner = ?4`,
		string(status), now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("store: writing the delivery status of %s: %w", webhook, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// DeliveryStatus returns the acknowledged cursor of webhook, the status
// its lease holder last stored (nil when none was), and whether a row
// exists; for status readers that do not hold the lease.
func (s *SQLite) DeliveryStatus(ctx context.Context, webhook string) (acked int64, status []byte, ok bool, err error) {
	var doc sql.NullString
	err = s.r.QueryRowContext(ctx, `SELECT acked, status FROM deliveries WHERE webhook = ?1`, webhook).Scan(&acked, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("store: reading the delivery status of %s: %w", webhook, err)
	}
	if doc.Valid {
		status = []byte(doc.String)
	}
	return acked, status, true, nil
}

// DeliveryCursor returns the acknowledged cursor of webhook and whether a
// row exists.
func (s *SQLite) DeliveryCursor(ctx context.Context, webhook string) (int64, bool, error) {
	acked, _, ok, err := s.DeliveryStatus(ctx, webhook)
	return acked, ok, err
}
