package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Webhook delivery state (table deliveries): the same methods, with the
// same semantics, as the SQLite store's (package store, deliveries.go on
// the delivery branch), for package delivery. Each change is one
// statement: replicas racing for a lease or an ack are serialised by the
// row lock and exactly one wins, which is what makes one replica deliver
// each webhook.

// AcquireLease gives the lease of webhook to owner until until, when
// nobody holds it, its holder's lease ended before now, or owner already
// holds it (renewal). It reports the acknowledged cursor and whether owner
// holds the lease afterwards; a new webhook starts at cursor 0.
func (s *Store) AcquireLease(ctx context.Context, webhook, owner string, now, until time.Time) (acked int64, held bool, err error) {
	if webhook == "" || owner == "" {
		return 0, false, errors.New("postgres: AcquireLease needs a webhook and an owner")
	}
	err = s.pool.QueryRow(ctx, `
INSERT INTO deliveries (webhook, acked, owner, lease_until, updated) VALUES ($1, 0, $2, $3, $4)
ON CONFLICT (webhook) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, updated = excluded.updated
WHERE deliveries.owner IS NULL OR deliveries.owner = excluded.owner OR deliveries.lease_until < $4
RETURNING acked`, webhook, owner, until.UnixNano(), now.UnixNano()).Scan(&acked)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil // another replica holds a live lease
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: acquiring the delivery lease of %s: %w", webhook, classify(err))
	}
	return acked, true, nil
}

// Ack moves the acknowledged cursor of webhook forward to seq if owner
// still holds the lease; false when the lease was lost (cursor untouched).
func (s *Store) Ack(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET acked = greatest(acked, $1), updated = $2
		WHERE webhook = $3 AND owner = $4`, seq, now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("postgres: acknowledging %s up to %d: %w", webhook, seq, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// SetCursor moves the cursor of webhook to seq in either direction (a
// resync after the cursor expired), if owner holds the lease.
func (s *Store) SetCursor(ctx context.Context, webhook, owner string, seq int64, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET acked = $1, updated = $2
		WHERE webhook = $3 AND owner = $4`, seq, now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("postgres: moving the cursor of %s to %d: %w", webhook, seq, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease gives up owner's lease of webhook, so another replica can
// take over at once; the cursor stays.
func (s *Store) ReleaseLease(ctx context.Context, webhook, owner string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE deliveries SET owner = NULL, lease_until = NULL
		WHERE webhook = $1 AND owner = $2`, webhook, owner); err != nil {
		return fmt.Errorf("postgres: releasing the delivery lease of %s: %w", webhook, classify(err))
	}
	return nil
}

// SetDeliveryStatus stores status, the lease holder's delivery status
// document (JSON, opaque here), if owner still holds the lease of webhook
// (compare-and-set, like Ack); false when the lease was lost.
func (s *Store) SetDeliveryStatus(ctx context.Context, webhook, owner string, status []byte, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET status = $1, updated = $2
		WHERE webhook = $3 AND owner = $4`, string(status), now.UnixNano(), webhook, owner)
	if err != nil {
		return false, fmt.Errorf("postgres: writing the delivery status of %s: %w", webhook, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// DeliveryStatus returns the acknowledged cursor of webhook, the status
// its lease holder last stored (nil when none was), and whether a row
// exists.
func (s *Store) DeliveryStatus(ctx context.Context, webhook string) (acked int64, status []byte, ok bool, err error) {
	var doc *string
	err = s.pool.QueryRow(ctx, `SELECT acked, status FROM deliveries WHERE webhook = $1`, webhook).Scan(&acked, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("postgres: reading the delivery status of %s: %w", webhook, classify(err))
	}
	if doc != nil {
		status = []byte(*doc)
	}
	return acked, status, true, nil
}

// DeliveryCursor returns the acknowledged cursor of webhook and whether a
// row exists.
func (s *Store) DeliveryCursor(ctx context.Context, webhook string) (int64, bool, error) {
	acked, _, ok, err := s.DeliveryStatus(ctx, webhook)
	return acked, ok, err
}
