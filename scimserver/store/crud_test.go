package store

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

func isConflict(err error) bool {
	e, ok := scimerr.As(err)
	return ok && e.Status == http.StatusConflict && e.ScimType == scimerr.Uniqueness
}

func TestFold(t *testing.T) {
	pairs := [][2]string{{"ABC", "abc"}, {"Straße", "STRASSE"}, {"ǅ", "ǆ"}, {"Σ", "ς"}, {"\u212a", "k"}, {"İ", "i̇"}}
	for _, p := range pairs {
		eq := strings.EqualFold(p[0], p[1])
		if (Fold(p[0]) == Fold(p[1])) != eq {
			t.Errorf("Fold(%q)=%q Fold(%q)=%q, EqualFold=%v", p[0], Fold(p[0]), p[1], Fold(p[1]), eq)
		}
	}
}
