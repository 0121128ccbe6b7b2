package main

// Benchmarks of the peer over real loopback HTTP, shaped like
// scimserver/server's (same names, 16 client goroutines on 2 cores, 100,000
// users and a 50,000-member group), so that a CPU profile of a row of
// `scimload --baseline --peer` can be put beside ours:
//
//	go test -run '^$' -bench GetUser -measured-cpuprofile /tmp/peer.out -o /tmp/peer.test .
//	go tool pprof -top -cum -focus ServeHTTP /tmp/peer.test /tmp/peer.out
//
// The fill (about 20 s) happens once per test process, in the first
// benchmark, so plain go test never pays for it. It goes over HTTP, so
// -cpuprofile would mix its POSTs into the profile: -measured-cpuprofile
// profiles only the measured part of the benchmarks.

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	benchUsers       = 100_000
	benchBigMembers  = 50_000
	benchParallelism = 8
)

var measuredProfile = flag.String("measured-cpuprofile", "", "write a CPU profile of the measured part of the benchmarks (not the fill) to this file")

var (
	benchOnce  sync.Once
	benchBase  string // the filled peer's /scim/v2
	benchIDs   []string
	benchGroup string
	benchErr   error
	benchSeq   atomic.Int64
	benchAdd   atomic.Int64
	benchHTTP  = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
)

// benchDo sends one request and returns its body, or an error on any
// status but want.
func benchDo(method, path, body string, want int) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, benchBase+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := benchHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != want {
		err = fmt.Errorf("%s %s: status %d: %.300s", method, path, res.StatusCode, out)
	}
	return out, err
}

func createdID(body []byte) string {
	_, rest, _ := strings.Cut(string(body), `"id":"`)
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

// benchFill starts the peer, outliving the benchmarks (the process ends
// with them), and fills it over HTTP as scimload does.
func benchFill() error {
	h, err := newHandler(sha256.Sum256([]byte(testToken)))
	if err != nil {
		return err
	}
	benchBase = httptest.NewServer(h).URL + "/scim/v2"
	benchIDs = make([]string, benchUsers)
	for i := range benchUsers {
		b, err := benchDo("POST", "/Users", string(userBody(userName(i), i)), http.StatusCreated)
		if err != nil {
			return err
		}
		benchIDs[i] = createdID(b)
	}
	b, err := benchDo("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Big group"}`, http.StatusCreated)
	if err != nil {
		return err
	}
	benchGroup = createdID(b)
	for k := 0; k < benchBigMembers; k += 100 {
		var vals []string
		for _, id := range benchIDs[k:min(k+100, benchBigMembers)] {
			vals = append(vals, `{"value":"`+id+`"}`)
		}
		if _, err := benchDo("PATCH", "/Groups/"+benchGroup, string(patch("add", "members", "["+strings.Join(vals, ",")+"]")), http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

func benchEnv(b *testing.B) {
	b.Helper()
	benchOnce.Do(func() {
		t0 := time.Now()
		benchErr = benchFill()
		fmt.Printf("bench: filled %d users and a %d-member group in %s\n", benchUsers, benchBigMembers, time.Since(t0).Round(time.Second))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs one request per iteration, from 16 goroutines unless
// serial, and reports cpu-µs/op (client and server together, as
// scimserver/server's benchmarks do).
func measure(b *testing.B, serial bool, req func() error) {
	benchEnv(b)
	b.ReportAllocs()
	if !serial {
		b.SetParallelism(benchParallelism)
	}
	if *measuredProfile != "" {
		f, err := os.Create(*measuredProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	if serial {
		for b.Loop() {
			if err := req(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := req(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "req/s")
	b.ReportMetric(float64(cpuTime()-c0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

func BenchmarkGetUser(b *testing.B) {
	measure(b, false, func() error {
		_, err := benchDo("GET", "/Users/"+benchIDs[rand.IntN(benchUsers)], "", http.StatusOK)
		return err
	})
}

// BenchmarkFilterUserNameEq scans all users per request, as the library's
// example handler filters.
func BenchmarkFilterUserNameEq(b *testing.B) {
	measure(b, false, func() error {
		name := strings.ToUpper(userName(rand.IntN(benchUsers)))
		_, err := benchDo("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), "", http.StatusOK)
		return err
	})
}

func BenchmarkListPage100(b *testing.B) {
	measure(b, false, func() error {
		_, err := benchDo("GET", "/Users?count=100", "", http.StatusOK)
		return err
	})
}

func BenchmarkPatchUser(b *testing.B) {
	measure(b, false, func() error {
		_, err := benchDo("PATCH", "/Users/"+benchIDs[rand.IntN(benchUsers)],
			string(patch("replace", "title", `"T`+strconv.Itoa(rand.IntN(1000))+`"`)), http.StatusOK)
		return err
	})
}

// BenchmarkAddMemberLargeGroup adds one member per request, one request at
// a time, as scimserver/server's does.
func BenchmarkAddMemberLargeGroup(b *testing.B) {
	measure(b, true, func() error {
		id := benchIDs[benchBigMembers+int(benchAdd.Add(1)-1)%(benchUsers-benchBigMembers)]
		_, err := benchDo("PATCH", "/Groups/"+benchGroup, string(patch("add", "members", `[{"value":"`+id+`"}]`)), http.StatusNoContent)
		return err
	})
}

func BenchmarkCreateUser(b *testing.B) {
	measure(b, false, func() error {
		n := int(benchSeq.Add(1)) + benchUsers
		_, err := benchDo("POST", "/Users", string(userBody(fmt.Sprintf("new%09d@contoso.com", n), n)), http.StatusCreated)
		return err
	})
}
