package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

// migratePage is how many resources one List of the source returns.
const migratePage = 1000

// runMigrate is `scimserver migrate`: the one-shot copy of a SQLite
// tenant into an empty PostgreSQL schema (docs/operations.md, "Moving a
// SQLite tenant to PostgreSQL"). The server must not run on the SQLite
// file meanwhile: writes after the copy started would be missed.
func runMigrate(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("scimserver migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.String("from", "", "the SQLite database file to copy (required)")
	o := &options{postgresStartTimeout: time.Minute}
	fs.StringVar(&o.database, "to", "", "postgres:// URL of the target (or --to-url-file)")
	fs.StringVar(&o.postgresURLFile, "to-url-file", "", "file holding the target's URL (a mounted Secret key)")
	fs.StringVar(&o.postgresSchema, "postgres-schema", "", "target schema; must be empty (created if missing; default public)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || isPostgresURL(*from) {
		return errors.New("--from must name the SQLite database file")
	}
	if o.database != "" && !isPostgresURL(o.database) {
		return errors.New("--to must be a postgres:// URL")
	}
	if err := checkDatabase(o); err != nil {
		return err
	}
	src, err := store.OpenSQLite(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	users, err := readAll(ctx, src, store.User)
	if err != nil {
		return err
	}
	groups, err := readAll(ctx, src, store.Group)
	if err != nil {
		return err
	}
	dst, _, err := openStore(ctx, o)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	pg, ok := dst.(*postgres.Store)
	if !ok {
		return errors.New("the target is not PostgreSQL")
	}
	if err := pg.Import(ctx, users, groups); err != nil {
		return err
	}
	members := 0
	for _, g := range groups {
		members += len(g.Members)
	}
	fmt.Fprintf(out, "copied %d users, %d groups, %d memberships into schema %s\n", len(users), len(groups), members, pg.Schema())
	return nil
}

// readAll reads every resource of kind, groups with members, in creation
// order.
func readAll(ctx context.Context, s store.Store, kind store.Kind) ([]*store.Resource, error) {
	var all []*store.Resource
	for start := 1; ; start += migratePage {
		p, err := s.List(ctx, kind, store.Query{StartIndex: start, Count: migratePage, Members: kind == store.Group})
		if err != nil {
			return nil, fmt.Errorf("reading %ss: %w", kind, err)
		}
		all = append(all, p.Resources...)
		if len(p.Resources) < migratePage {
			return all, nil
		}
	}
}
