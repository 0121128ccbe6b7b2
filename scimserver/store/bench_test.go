package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks run against one store per process, pre-filled with 100,000
// users and two 50,000-member groups. Run with e.g.
//
//	go test -run '^$' -bench . -benchtime 2s ./scimserver/store/
//
// Recorded on the shared 2-core dev VM (AMD EPYC, Firecracker; load
// average 2.6-3.1), synchronous=NORMAL. The create benchmarks add users, so
// the scans read ~135,000 by the time they run:
//
//	GetByUserName             45 µs/op  (~22,000/s)   140 allocs
//	GetByUserNameParallel     31 µs/op  (~32,000/s)   139 allocs
//	GetByID                   26 µs/op  (~38,000/s)   116 allocs
//	Create                   197 µs/op  (~5,100/s)    106 allocs
//	CreateParallel           198 µs/op  (~5,100/s)    110 allocs (one writer)
//	AddMemberTo50kGroup      224 µs/op  (~4,500/s)    117 allocs
//	RemoveMemberFrom50kGroup 195 µs/op  (~5,100/s)    114 allocs
//	ListPage100              4.4 ms/op               8189 allocs (avg OFFSET 50k)
//	ListMatchScan100k        1.2 s/op                 11M allocs (unindexed filter, no text condition)
//	ListTextScan100k         378 ms/op               950k allocs (title co "nobody": rows searched, not decoded)
//	ListSortedScan100k       1.7 s/op                 11M allocs (keys kept, page decoded again)
//	ListSortedPage100        6.3 ms/op               8193 allocs (sortBy=userName through its index)
//	GroupsOf100Users         561 µs/op               1785 allocs
//	GetGroup50kMembers        63 ms/op               303k allocs
//	CreateSyncFull           308 µs/op  (~3,200/s)    (fsync per commit)
//
// docs/benchmarks.md collects the numbers for the whole server.

const (
	benchUsers   = 100_000
	benchMembers = 50_000
)

var (
	benchOnce  sync.Once
	benchStore *SQLite
	benchDir   string
	benchErr   error
	benchSeq   atomic.Int64 // unique ids for creates across benchmarks
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchStore != nil {
		benchStore.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchDoc is a user as Entra typically provisions one.
func benchDoc(i int) map[string]any {
	name := fmt.Sprintf("user%06d@contoso.com", i)
	return map[string]any{
		"userName":    name,
		"externalId":  fmt.Sprintf("user%06d", i),
		"active":      true,
		"displayName": fmt.Sprintf("User %06d", i),
		"name":        map[string]any{"givenName": "User", "familyName": fmt.Sprintf("%06d", i), "formatted": fmt.Sprintf("User %06d", i)},
		"emails":      []any{map[string]any{"type": "work", "value": name, "primary": true}},
		"title":       "Engineer",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
			"department": "R&D", "employeeNumber": fmt.Sprint(i), "manager": map[string]any{"value": "u000000"},
		},
	}
}

// fixture fills the store in bulk (one transaction) so setup takes seconds;
// the benchmarks themselves go through the public API.
func fixture(b *testing.B) *SQLite {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "store-bench-")
		if benchErr != nil {
			return
		}
		var s *SQLite
		s, benchErr = OpenSQLite(filepath.Join(benchDir, "scim.db"))
		if benchErr != nil {
			return
		}
		benchStore = s
		benchErr = bulkFill(s)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore
}

func bulkFill(s *SQLite) error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins := tx.Stmt(s.stmts.insert)
	now := time.Now().UnixNano()
	for i := range benchUsers {
		doc := benchDoc(i)
		enc, _ := json.Marshal(doc)
		ix := indexOf(User, doc)
		if _, err := ins.Exec(string(User), uid(i), enc, now, now, ix.userName, ix.externalID, ix.displayName, ix.displayFolded); err != nil {
			return err
		}
	}
	for _, g := range []string{"g-add", "g-remove"} {
		res, err := ins.Exec(string(Group), g, `{"displayName":"`+g+`"}`, now, now, nil, nil, g, g)
		if err != nil {
			return err
		}
		rid, _ := res.LastInsertId()
		// Users are rids 1..benchUsers in creation order.
		if _, err := tx.Exec(`INSERT INTO members (group_rid, member_rid)
			SELECT ?, rid FROM resources WHERE kind = 'User' AND rid <= ?`, rid, benchMembers); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func BenchmarkGetByUserName(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Entra's match query, in a different case than stored.
		name := fmt.Sprintf("USER%06d@Contoso.com", i%benchUsers)
		p, err := s.List(ctx, User, Query{Lookup: &Lookup{"userName", name}, Count: 100})
		if err != nil || p.Total != 1 {
			b.Fatalf("lookup %s: %v %v", name, p, err)
		}
		i += 7919
	}
}

func BenchmarkGetByUserNameParallel(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("user%06d@contoso.com", int(seq.Add(7919))%benchUsers)
			if p, err := s.List(ctx, User, Query{Lookup: &Lookup{"userName", name}, Count: 100}); err != nil || p.Total != 1 {
				b.Fatalf("lookup %s: %v %v", name, p, err)
			}
		}
	})
}

func BenchmarkGetByID(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, User, uid(i%benchUsers), false); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

func newBenchUser() *Resource {
	n := benchSeq.Add(1)
	doc := benchDoc(0)
	doc["userName"] = fmt.Sprintf("new%08d@contoso.com", n)
	return &Resource{Kind: User, ID: fmt.Sprintf("new-%08d", n), Doc: doc}
}

func BenchmarkCreate(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Create(ctx, newBenchUser()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateParallel(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4) // HTTP handlers: more goroutines than cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Create(ctx, newBenchUser()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// memberUpdate is one PATCH adding or removing one member.
func memberUpdate(b *testing.B, s *SQLite, group, kind, id string) {
	if _, err := s.Update(context.Background(), Group, group, func(*Resource) (map[string]any, []MemberOp, error) {
		return nil, []MemberOp{ops(kind, id)}, nil
	}); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkAddMemberTo50kGroup(b *testing.B) {
	s := fixture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Users past the first 50,000 are not yet members: a real insert.
		memberUpdate(b, s, "g-add", MemberAdd, uid(benchMembers+i%(benchUsers-benchMembers)))
		i++
	}
}

func BenchmarkRemoveMemberFrom50kGroup(b *testing.B) {
	s := fixture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		memberUpdate(b, s, "g-remove", MemberRemove, uid(i%benchMembers))
		i++
	}
}

func BenchmarkListPage100(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := 1 + (i*100)%(benchUsers-100)
		p, err := s.List(ctx, User, Query{StartIndex: start, Count: 100})
		if err != nil || len(p.Resources) != 100 {
			b.Fatalf("page at %d: %v", start, err)
		}
		i += 37
	}
}

// BenchmarkListMatchScan shows the cost of a filter that cannot use an
// index: every user is decoded and matched in Go.
func BenchmarkListMatchScan100k(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	match := func(r *Resource) bool { return r.Doc["title"] == "Nobody" }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, User, Query{Match: match, Count: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListTextScan100k is the same scan when the filter gives a text
// condition (title co "nobody"): rows are searched, not decoded.
func BenchmarkListTextScan100k(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	match := func(r *Resource) bool { return r.Doc["title"] == "Nobody" }
	text := Contains("nobody", true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, User, Query{Match: match, Text: text, Count: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListSortedScan100k sorts every user by userName for one page
// deep in the list: the store keeps 100,000 keys, not documents.
func BenchmarkListSortedScan100k(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	order := &Order{
		Key:     func(r *Resource) any { return r.Doc["userName"] },
		Compare: func(x, y any) int { return strings.Compare(y.(string), x.(string)) },
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.List(ctx, User, Query{Order: order, StartIndex: 50_001, Count: 100})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Resources) != 100 || p.Total < benchUsers {
			b.Fatalf("page of %d, total %d", len(p.Resources), p.Total)
		}
	}
}

// BenchmarkListSortedPage100 pages by userName through its index, at a
// random depth, as an unfiltered sortBy=userName list does.
func BenchmarkListSortedPage100(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	order := &Order{Column: "userName", Desc: true}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		p, err := s.List(ctx, User, Query{Order: order, StartIndex: 1 + (i*7919)%(benchUsers-100), Count: 100})
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Resources) != 100 {
			b.Fatalf("page of %d", len(p.Resources))
		}
	}
}

func BenchmarkGroupsOf100Users(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = uid(i * 500) // half of them are in both groups
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GroupsOf(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetGroup50kMembers(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, Group, "g-remove", true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSyncFull prices power-loss durability: one fsync of the
// WAL per commit (empty store; the fsync dominates).
func BenchmarkCreateSyncFull(b *testing.B) {
	s, _ := openTest(b, WithSynchronous("FULL"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Create(ctx, newBenchUser()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSyncNormalEmpty is the same on NORMAL, for comparison.
func BenchmarkCreateSyncNormalEmpty(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Create(ctx, newBenchUser()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountInactive100k is the count of inactive users GET /v1/status
// reports (package server caches it): a text scan decoding only documents
// containing "false".
func BenchmarkCountInactive100k(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	q := Query{
		Text:  Contains("false", false),
		Match: func(r *Resource) bool { v, ok := r.Doc["active"].(bool); return ok && !v },
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, User, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountTotals is what GET /v1/status costs on every poll: the
// per-kind totals from the counts table.
func BenchmarkCountTotals(b *testing.B) {
	s := fixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, User, Query{}); err != nil {
			b.Fatal(err)
		}
	}
}
