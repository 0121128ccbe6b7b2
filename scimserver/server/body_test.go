package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll returns the body whatever the declared length says, and passes
// the reader's errors through (a MaxBytesReader's limit becomes the 413).
func TestReadAll(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name     string
		declared int64
	}{
		{"exact", 3000},
		{"unknown", -1},
		{"none", 0},
		{"declared short", 10},
		{"declared long", 5000},
		{"declared past the presize limit", presizeLimit + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(strings.NewReader(body), tc.declared)
			if err != nil || string(got) != body {
				t.Errorf("readAll = %d bytes, %v; want %d bytes", len(got), err, len(body))
			}
		})
	}
	t.Run("a truncated body is an error", func(t *testing.T) {
		_, err := readAll(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)), 10)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("over the body limit", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), 100)
		_, err := readAll(r, int64(len(body)))
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || mbe.Limit != 100 {
			t.Errorf("err %v, want a MaxBytesError of 100", err)
		}
	})
	t.Run("one allocation at the declared size", func(t *testing.T) {
		raw := []byte(body)
		rd := bytes.NewReader(raw)
		allocs := testing.AllocsPerRun(20, func() {
			rd.Reset(raw)
			if _, err := readAll(rd, int64(len(raw))); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("%v allocations per body, want 1", allocs)
		}
		rd.Reset(raw)
		if grown := testing.AllocsPerRun(20, func() {
			rd.Reset(raw)
			io.ReadAll(rd)
		}); grown <= allocs {
			t.Errorf("io.ReadAll makes %v allocations, readAll %v: no saving", grown, allocs)
		}
	})
}
