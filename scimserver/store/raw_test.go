package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// GetRaw and Query.RawOnly leave Doc undecoded and hand out the stored
// bytes, which decode to what Get returns.
func TestRawReads(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mustCreate(t, s, userRes("u1", "a"), userRes("u2", "b"))
	full, err := s.Get(ctx, User, "u1", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetRaw(ctx, User, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if raw.Doc != nil || !bytes.Equal(raw.Raw, full.Raw) || raw.Version != full.Version || len(raw.Groups) != len(full.Groups) || (raw.Groups == nil) != (full.Groups == nil) ||
		!raw.Created.Equal(full.Created) || !raw.LastModified.Equal(full.LastModified) {
		t.Fatalf("GetRaw %+v, Get %+v", raw, full)
	}
	want, _ := json.Marshal(full.Doc)
	if !bytes.Equal(raw.Raw, want) {
		t.Fatalf("Raw %s, want the document as encoding/json writes it: %s", raw.Raw, want)
	}
	if _, err := s.GetRaw(ctx, User, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRaw of a missing id: %v", err)
	}
	tests := []struct {
		name    string
		q       Query
		wantDoc bool
		n       int
	}{
		{"page", Query{Count: 10, RawOnly: true}, false, 2},
		{"page decoded", Query{Count: 10}, true, 2},
		{"matched", Query{Count: 10, RawOnly: true, Match: func(r *Resource) bool { return r.Doc != nil }}, true, 2},
		{"looked up", Query{Count: 10, RawOnly: true, Lookup: &Lookup{Attr: "userName", Value: "A"}}, false, 1},
		{"looked up decoded", Query{Count: 10, Lookup: &Lookup{Attr: "userName", Value: "A"}}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.List(ctx, User, tc.q)
			if err != nil || len(p.Resources) != tc.n || p.Total != tc.n {
				t.Fatalf("List: %+v %v", p, err)
			}
			for _, r := range p.Resources {
				if (r.Doc != nil) != tc.wantDoc || r.Raw == nil {
					t.Errorf("%s: Doc %v, Raw %s", r.ID, r.Doc, r.Raw)
				}
			}
		})
	}
}
