package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseFlagsPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string // "" = valid
	}{
		{"sqlite", []string{"--spawn"}, ""},
		{"postgres, 2 replicas", []string{"--spawn", "--postgres", "postgres://postgres@127.0.0.1:5432/postgres", "--replicas", "2"}, ""},
		{"postgres on a unix socket", []string{"--spawn", "--postgres", "postgres:///postgres?host=/run/postgresql"}, ""},
		{"postgres on localhost", []string{"--spawn", "--postgres", "postgres://localhost/postgres"}, ""},
		{"remote postgres", []string{"--spawn", "--postgres", "postgres://u@db.example.com/x"}, "only a database on this machine"},
		{"postgres without spawn", []string{"--url", "http://127.0.0.1:1/scim/v2", "--token", "t", "--postgres", "postgres://127.0.0.1/x"}, "--postgres needs --spawn"},
		{"replicas on sqlite", []string{"--spawn", "--replicas", "2"}, "above 1 only with --postgres"},
		{"zero replicas", []string{"--spawn", "--replicas", "0"}, "--replicas must be positive"},
		{"baseline with replicas", []string{"--spawn", "--postgres", "postgres://127.0.0.1/x", "--replicas", "2", "--baseline"}, "--baseline measures one server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SCIMLOAD_POSTGRES_URL", "")
			_, err := parseFlags(tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("parseFlags(%q) = %v, want valid", tc.args, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("parseFlags(%q) = %v, want an error containing %q", tc.args, err, tc.err)
			}
		})
	}
}

// TestRoundRobin: requests go to the replicas in turn, each getting its
// share, whatever URL the client was given.
func TestRoundRobin(t *testing.T) {
	var hits [3]atomic.Int64
	var hosts []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		hosts = append(hosts, strings.TrimPrefix(srv.URL, "http://"))
	}
	hc := &http.Client{Transport: &roundRobin{next: http.DefaultTransport, hosts: hosts}}
	for range 30 {
		res, err := hc.Get("http://" + hosts[0] + "/scim/v2/Users")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	for i := range hits {
		if n := hits[i].Load(); n != 10 {
			t.Errorf("replica %d got %d requests, want 10", i, n)
		}
	}
}
