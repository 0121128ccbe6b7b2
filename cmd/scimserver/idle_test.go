package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIdleTrimmer(t *testing.T) {
	var tr idleTrimmer
	h := tr.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(path string) { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil)) }
	frees := 0
	free := func() { frees++ }
	steps := []struct {
		name     string
		requests []string // served before the tick
		freed    bool     // the tick frees
	}{
		{"idle from the start", nil, true},
		{"still idle: freed once per idle period", nil, false},
		{"probes and metrics are not activity", []string{"/healthz", "/readyz", "/metrics"}, false},
		{"a SCIM request", []string{"/scim/v2/Users"}, false},
		{"idle again after it", nil, true},
		{"busy", []string{"/scim/v2/Users/x", "/scim/v2/Groups"}, false},
		{"busy again", []string{"/scim/v2/Users"}, false},
		{"idle", []string{"/healthz"}, true},
	}
	want := 0
	for _, s := range steps {
		for _, p := range s.requests {
			serve(p)
		}
		if got := tr.tick(free); got != s.freed {
			t.Errorf("%s: tick freed = %v, want %v", s.name, got, s.freed)
		}
		if s.freed {
			want++
		}
		if frees != want {
			t.Errorf("%s: free called %d times, want %d", s.name, frees, want)
		}
	}
}
