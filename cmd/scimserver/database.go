package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

// isPostgresURL tells a PostgreSQL URL from a SQLite file path.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// checkDatabase validates the storage flags: a SQLite path, or
// PostgreSQL from a URL (--database) or a mounted Secret file
// (--postgres-url-file), never both.
func checkDatabase(o *options) error {
	switch {
	case o.database == "" && o.postgresURLFile == "":
		return errors.New("--database (SCIM_DATABASE) or --postgres-url-file (SCIM_POSTGRES_URL_FILE) is required")
	case o.database != "" && o.postgresURLFile != "":
		return errors.New("--database and --postgres-url-file are exclusive: one store per server")
	case o.postgresSchema != "" && o.database != "" && !isPostgresURL(o.database):
		return errors.New("--postgres-schema applies to PostgreSQL only (--database is a SQLite file)")
	}
	if o.postgresSchema != "" {
		if err := postgres.ValidSchema(o.postgresSchema); err != nil {
			return fmt.Errorf("--postgres-schema: %w", err)
		}
	}
	return nil
}

// openStore opens the store the flags name and describes it for the log
// (a PostgreSQL URL may hold a password: it is never logged).
func openStore(ctx context.Context, o *options) (store.Store, []any, error) {
	readURL := func() (string, error) { return o.database, nil }
	if o.postgresURLFile != "" {
		readURL = func() (string, error) { return readURLFile(o.postgresURLFile) }
	}
	url, err := readURL()
	if err != nil {
		return nil, nil, err
	}
	if !isPostgresURL(url) {
		st, err := store.OpenSQLite(url)
		return st, []any{"database", url}, err
	}
	schema := o.postgresSchema
	if schema == "" {
		schema = "public"
	}
	opts := []postgres.Option{postgres.WithSchema(schema)}
	if o.postgresURLFile != "" {
		// The file changes when the credentials rotate: every new
		// connection reads it again (docs/operations.md).
		opts = append(opts, postgres.WithURLSource(readURL))
	}
	// Replicas start while the database may still be coming up (a new
	// CloudNativePG cluster), or before a rotated password reached the
	// file: retry the first connection for a while, reading the file again.
	ctx, cancel := context.WithTimeout(ctx, o.postgresStartTimeout)
	defer cancel()
	for {
		st, err := postgres.Open(ctx, url, opts...)
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return st, []any{"database", "postgres", "schema", schema}, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("PostgreSQL did not answer within %s: %w", o.postgresStartTimeout, err)
		case <-time.After(2 * time.Second):
		}
		if fresh, ferr := readURL(); ferr == nil {
			url = fresh
		}
	}
}

// readURLFile reads a PostgreSQL URL from a mounted Secret key.
func readURLFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--postgres-url-file: %w", err)
	}
	url := strings.TrimSpace(string(raw))
	if !isPostgresURL(url) {
		return "", fmt.Errorf("--postgres-url-file %s: want a postgres:// URL (CloudNativePG: the uri key of the <cluster>-app Secret)", path)
	}
	return url, nil
}
