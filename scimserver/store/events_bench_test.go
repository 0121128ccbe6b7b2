package store

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Store-level cost of the change log: each write with the log on and off,
// on a fresh database of 10,000 users (the cost per write does not depend
// on the table size: B-tree depth grows by one from 10,000 to 1,000,000).
//
//	go test -run '^$' -bench ChangeLogStore -count 6 ./scimserver/store/ | tee /tmp/store-events.bench
//	go run golang.org/x/perf/cmd/benchstat@latest -col /log /tmp/store-events.bench
func BenchmarkChangeLogStore(b *testing.B) {
	const users = 10_000
	for _, op := range []string{"create", "patch", "member"} {
		for _, mode := range []struct {
			name string
			opts []Option
		}{{"log=on", nil}, {"log=off", []Option{WithoutEventLog()}}} {
			b.Run(op+"/"+mode.name, func(b *testing.B) {
				s, err := OpenSQLite(filepath.Join(b.TempDir(), "scim.db"), mode.opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				for i := range users {
					if err := s.Create(ctx, &Resource{Kind: User, ID: uid(i), Doc: benchDoc(i)}); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Create(ctx, groupRes("g", "G")); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := processCPU()
				i := 0
				for b.Loop() {
					i++
					switch op {
					case "create":
						doc := benchDoc(users + i)
						if err := s.Create(ctx, &Resource{Kind: User, ID: fmt.Sprint("new-", i), Doc: doc}); err != nil {
							b.Fatal(err)
						}
					case "patch": // Entra's update of two attributes
						_, err := s.Update(ctx, User, uid(i%users), func(cur *Resource) (map[string]any, []MemberOp, error) {
							doc := make(map[string]any, len(cur.Doc))
							for k, v := range cur.Doc {
								doc[k] = v
							}
							doc["title"] = fmt.Sprint("Title ", i)
							ent := map[string]any{}
							for k, v := range doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any) {
								ent[k] = v
							}
							ent["department"] = fmt.Sprint("Dept ", i)
							doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = ent
							return doc, nil, nil
						})
						if err != nil {
							b.Fatal(err)
						}
					case "member": // add, then remove again: two real changes
						id := uid(i % users)
						memberUpdate(b, s, "g", MemberAdd, id)
						memberUpdate(b, s, "g", MemberRemove, id)
					}
				}
				// CPU per op moves less than ns/op with the neighbours' load.
				b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
