package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

// TestMigrate copies a SQLite tenant into PostgreSQL and compares every
// resource: ids, documents (numbers exact), versions, timestamps, members.
func TestMigrate(t *testing.T) {
	url, schema := pgtest.Schema(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 5, 6, 7, 891011, time.UTC)
	path := filepath.Join(t.TempDir(), "scim.db")
	src, err := store.OpenSQLite(path, store.WithClock(func() time.Time { now = now.Add(time.Millisecond); return now }))
	if err != nil {
		t.Fatal(err)
	}
	const users = 2500 // more than two source pages
	for i := range users {
		doc := map[string]any{"userName": fmt.Sprintf("user%d@Contoso.com", i), "active": i%7 != 0,
			"big": json.Number("12345678901234567890"), "name": map[string]any{"givenName": "Ärzte"}}
		if err := src.Create(ctx, &store.Resource{Kind: store.User, ID: fmt.Sprintf("u%d", i), Doc: doc}); err != nil {
			t.Fatal(err)
		}
	}
	for g := range 3 {
		r := &store.Resource{Kind: store.Group, ID: fmt.Sprintf("g%d", g), Doc: map[string]any{"displayName": fmt.Sprintf("Group %d", g)}}
		for i := g; i < users; i += 3 + g {
			r.Members = append(r.Members, store.Member{Value: fmt.Sprintf("u%d", i)})
		}
		if err := src.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // versions past 1, lastModified past created
		if _, err := src.Update(ctx, store.User, "u5", func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
			return map[string]any{"userName": cur.Doc["userName"], "title": now.String()}, nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]*store.Resource{}
	for _, kind := range []store.Kind{store.User, store.Group} {
		all, err := readAll(ctx, src, kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			want[string(kind)+"/"+r.ID] = r
		}
	}
	src.Close()

	args := []string{"--from", path, "--to", url, "--postgres-schema", schema}
	if err := runMigrate(ctx, args, io.Discard); err != nil {
		t.Fatal(err)
	}
	dst, err := postgres.Open(ctx, url, postgres.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if len(want) != users+3 {
		t.Fatalf("source has %d resources", len(want))
	}
	for key, w := range want {
		got, err := dst.Get(ctx, w.Kind, w.ID, w.Kind == store.Group)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s differs:\n got %+v\nwant %+v", key, got, w)
		}
	}
	if p, err := dst.List(ctx, store.User, store.Query{Lookup: &store.Lookup{Attr: "userName", Value: "USER42@contoso.com"}, Count: 1}); err != nil || p.Total != 1 {
		t.Fatalf("lookup after migrate: %v %v", p, err)
	}
	if p, _ := dst.List(ctx, store.User, store.Query{}); p.Total != users {
		t.Fatalf("user total %d, want %d", p.Total, users)
	}
	// The copy is served: writes continue the versions, the log starts.
	u, err := dst.Update(ctx, store.User, "u5", func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
		return map[string]any{"userName": cur.Doc["userName"], "title": "after"}, nil, nil
	})
	if err != nil || u.Version != 4 {
		t.Fatalf("update after migrate: %+v %v", u, err)
	}
	if err := runMigrate(ctx, args, io.Discard); err == nil || !strings.Contains(err.Error(), "empty schema") {
		t.Fatalf("second migrate into the same schema: %v", err)
	}
}
