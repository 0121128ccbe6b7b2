package server

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
	"github.com/scim-operator/scim-operator/scimserver/store/postgres"
)

// benchPostgresEnv, when set to a PostgreSQL URL, runs every server
// benchmark against PostgreSQL instead of SQLite (docs/benchmarks.md):
//
//	eval "$(SCIM_TEST_POSTGRES_FSYNC=on hack/postgres/test-server.sh start)"
//	SCIM_BENCH_POSTGRES=$SCIM_TEST_POSTGRES_URL go test -run '^$' -bench . ./scimserver/server/
//
// The fixture (100,000 users, a 50,000-member group) is filled once into
// the schema bench_server and kept there for later runs.
const benchPostgresEnv = "SCIM_BENCH_POSTGRES"

const benchPostgresSchema = "bench_server"

var benchPGOnce sync.Once

func openPostgresBench(b *testing.B, url string) store.Store {
	b.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, postgres.WithSchema(benchPostgresSchema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	benchPGOnce.Do(func() {
		p, err := st.List(ctx, store.Group, store.Query{Lookup: &store.Lookup{Attr: "id", Value: benchBigGroup}})
		if err != nil {
			benchErr = err
			return
		}
		if p.Total == 1 {
			return // filled by an earlier run
		}
		t0 := time.Now()
		benchErr = benchFillStore(st)
		fmt.Fprintf(os.Stderr, "bench: filled PostgreSQL with %d users and a %d-member group in %s\n",
			benchUsers, benchBigMembers, time.Since(t0).Round(time.Second))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return st
}

// benchFillStore creates the fixture through the Store API, from 8
// goroutines (PostgreSQL takes concurrent writers).
func benchFillStore(st store.Store) error {
	ctx := context.Background()
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < benchUsers; i += workers {
				if err := st.Create(ctx, &store.Resource{Kind: store.User, ID: benchUserID(i), Doc: benchUserDoc(benchUserName(i), i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	members := make([]store.Member, benchBigMembers)
	for i := range members {
		members[i] = store.Member{Value: benchUserID(i), Type: "User"}
	}
	return st.Create(ctx, &store.Resource{Kind: store.Group, ID: benchBigGroup,
		Doc: map[string]any{"displayName": "Big group"}, Members: members})
}
