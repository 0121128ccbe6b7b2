package main

import (
	"maps"
	"slices"
	"testing"
)

func TestWatchNamespacesList(t *testing.T) {
	tests := []struct {
		flag string
		want []string // nil: every namespace
	}{
		{"", nil},
		{" , ", nil},
		{"team-a", []string{"team-a"}},
		{"team-a, team-b,", []string{"team-a", "team-b"}},
	}
	for _, tt := range tests {
		opts := cacheOptions(tt.flag)
		got := slices.Sorted(maps.Keys(opts.DefaultNamespaces))
		if !slices.Equal(got, tt.want) {
			t.Errorf("--watch-namespaces=%q: cache namespaces %v, want %v", tt.flag, got, tt.want)
		}
		if len(opts.ByObject) == 0 {
			t.Errorf("--watch-namespaces=%q: the Secret cache lost its label selector", tt.flag)
		}
	}
}
