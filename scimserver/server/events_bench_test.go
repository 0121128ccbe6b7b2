package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Benchmarks of the change log (docs/events.md), on the database of
// bench_test.go (100,000 users, a 50,000-member group). The write
// benchmarks run each SCIM write with the log on and off (the store option
// WithoutEventLog), so benchstat compares them directly:
//
//	go test -run '^$' -bench 'ChangeLog|Feed' -count 6 ./scimserver/server/ | tee /tmp/events.bench
//	go run golang.org/x/perf/cmd/benchstat@latest -col /log /tmp/events.bench

// logModes are the sub-benchmarks of each write: with and without the log.
var logModes = []struct {
	name string
	opts []store.Option
}{
	{"log=on", nil},
	{"log=off", []store.Option{store.WithoutEventLog()}},
}

// logWrites are the SCIM writes measured with and without the log.
var logWrites = map[string]func(b *testing.B, e *benchEnv){
	// POST /Users: one user.created event.
	"create": func(b *testing.B, e *benchEnv) {
		n := benchSeq.Add(1)
		name := fmt.Sprintf("log%09d-%d@contoso.com", n, os.Getpid())
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],`+
			`"userName":%q,"externalId":"log%d","active":true,"displayName":"Log %d","title":"Engineer",`+
			`"emails":[{"primary":true,"type":"work","value":%q}],"name":{"formatted":"Log %d","familyName":"%d","givenName":"Log"},`+
			`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"%d","department":"R&D"}}`,
			name, n, n, name, n, n, n)
		e.do(b, "POST", "/Users", body, 201)
	},
	// PATCH replace of title and department on an existing user: one
	// user.updated event with two changed paths and their previous values.
	"patch": func(b *testing.B, e *benchEnv) {
		n := benchSeq.Add(1)
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+
			`{"op":"Replace","path":"title","value":"Title %d"},`+
			`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Dept %d"}]}`, n, n)
		e.do(b, "PATCH", "/Users/"+benchUserID(int(n)%benchUsers), body, 200)
	},
	// Add one member to the 50,000-member group, then remove it again, so
	// every add is a real insert: two requests, two member events.
	"member": func(b *testing.B, e *benchEnv) {
		id := benchUserID(benchBigMembers + int(benchAdd.Add(1)-1)%(benchUsers-benchBigMembers))
		e.do(b, "PATCH", "/Groups/"+benchBigGroup,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"`+id+`"}]}]}`, 204)
		e.do(b, "PATCH", "/Groups/"+benchBigGroup,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members[value eq \"`+id+`\"]"}]}`, 204)
	},
}

// BenchmarkChangeLogInterleaved runs each write on two servers over the
// same database, one with the log and one without, alternating blocks of
// 50 requests, and reports the CPU per request of each and their ratio
// (off/on: the throughput with the log as a fraction of without, on a
// CPU-bound machine). Alternating cancels the drift of a shared machine's
// load, which swamps separate runs.
func BenchmarkChangeLogInterleaved(b *testing.B) {
	for _, name := range []string{"create", "patch", "member"} {
		b.Run(name, func(b *testing.B) {
			on, off := newBenchEnv(b), newBenchEnv(b, store.WithoutEventLog())
			write := logWrites[name]
			var cpu [2]time.Duration
			var ops [2]int
			const block = 50
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				k := i / block % 2
				e := on
				if k == 1 {
					e = off
				}
				c0 := cpuTime()
				write(b, e)
				cpu[k] += cpuTime() - c0
				ops[k]++
			}
			if ops[0] == 0 || ops[1] == 0 {
				return
			}
			perOn := float64(cpu[0]) / float64(time.Microsecond) / float64(ops[0])
			perOff := float64(cpu[1]) / float64(time.Microsecond) / float64(ops[1])
			b.ReportMetric(perOn, "on-cpu-µs/op")
			b.ReportMetric(perOff, "off-cpu-µs/op")
			b.ReportMetric(100*perOff/perOn, "%-of-off")
		})
	}
}

// BenchmarkChangeLogCreate is POST /Users (one user.created event).
func BenchmarkChangeLogCreate(b *testing.B) {
	for _, m := range logModes {
		b.Run(m.name, func(b *testing.B) {
			e := newBenchEnv(b, m.opts...)
			b.SetParallelism(benchParallelism)
			b.ReportAllocs()
			clk := startClock(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					logWrites["create"](b, e)
				}
			})
			clk.report(b)
		})
	}
}

// BenchmarkChangeLogPatchUser is Entra's attribute update: PATCH replace
// of title and department on a random existing user (one user.updated
// event with two changed paths and their previous values).
func BenchmarkChangeLogPatchUser(b *testing.B) {
	for _, m := range logModes {
		b.Run(m.name, func(b *testing.B) {
			e := newBenchEnv(b, m.opts...)
			b.SetParallelism(benchParallelism)
			b.ReportAllocs()
			clk := startClock(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					logWrites["patch"](b, e)
				}
			})
			clk.report(b)
		})
	}
}

// BenchmarkChangeLogAddMember adds one member per request to the
// 50,000-member group (one group.member_added event), one at a time.
func BenchmarkChangeLogAddMember(b *testing.B) {
	for _, m := range logModes {
		b.Run(m.name, func(b *testing.B) {
			e := newBenchEnv(b, m.opts...)
			b.ReportAllocs()
			clk := startClock(b)
			for b.Loop() {
				logWrites["member"](b, e)
			}
			clk.report(b)
		})
	}
}

// BenchmarkFeedRead is one reader paging through the log over HTTP, 1,000
// events a page (GET /v1/events?after=&limit=1000): the target is
// ≥ 20,000 events/s.
func BenchmarkFeedRead(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	head, err := e.srv.store.EventHead(ctx)
	if err != nil || head < 10_000 {
		b.Fatalf("head %d %v: the fixture should hold 100,000 creation events", head, err)
	}
	root := e.ts.URL
	var after, events int64
	b.ReportAllocs()
	clk := startClock(b)
	for b.Loop() {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s?after=%d&limit=1000", root, EventsPath, after), nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		res, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page clientPage
		err = json.NewDecoder(res.Body).Decode(&page)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || len(page.Events) == 0 {
			b.Fatalf("feed: %d %v %d events", res.StatusCode, err, len(page.Events))
		}
		events += int64(len(page.Events))
		after = page.Next
		if after >= head-1000 {
			after = 0 // start over: every page is a full one
		}
	}
	clk.report(b)
	b.ReportMetric(float64(events)/float64(b.Elapsed().Seconds()), "events/s")
}

// BenchmarkEventsReaderRead is the Go reader webhook delivery uses:
// Events().Read of 100 events (rendered), without HTTP.
func BenchmarkEventsReaderRead(b *testing.B) {
	e := newBenchEnv(b)
	r := e.srv.Events()
	ctx := context.Background()
	head, _ := r.Head(ctx)
	var after, events int64
	b.ReportAllocs()
	clk := startClock(b)
	for b.Loop() {
		evs, err := r.Read(ctx, after, 100)
		if err != nil || len(evs) == 0 {
			b.Fatalf("Read: %v %d", err, len(evs))
		}
		events += int64(len(evs))
		after = evs[len(evs)-1].Seq
		if after >= head-100 {
			after = 0
		}
	}
	clk.report(b)
	b.ReportMetric(float64(events)/float64(b.Elapsed().Seconds()), "events/s")
}
