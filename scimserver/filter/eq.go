package filter

import (
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/schema"
)

// indexed are the attributes the store can look up by index, in the order
// Eq prefers them when an and-chain offers several.
var indexed = []string{"id", "userName", "displayName", "externalId"}

// Eq finds an `attr eq "value"` the store can push down to an index: e
// itself, or one conjunct of a top-level and-chain (an or anywhere above it
// would make the push-down wrong). attr is a core attribute without
// sub-attribute; id, userName, displayName and externalId come back in
// canonical casing and are preferred over other conjuncts. The caller must
// still apply the whole filter to the candidates.
func Eq(e Expr) (attr, value string, ok bool) {
	var cands []*Compare
	var walk func(Expr)
	walk = func(e Expr) {
		switch x := e.(type) {
		case *Logical:
			if x.Op == "and" {
				walk(x.Left)
				walk(x.Right)
			}
		case *Compare:
			if x.Op != "eq" || x.Path.Sub != "" || x.Path.Attr == "" {
				return
			}
			if x.Path.URN != "" && !strings.EqualFold(x.Path.URN, schema.UserURN) && !strings.EqualFold(x.Path.URN, schema.GroupURN) {
				return
			}
			if _, isStr := x.Value.(string); isStr {
				cands = append(cands, x)
			}
		}
	}
	walk(e)
	for _, name := range indexed {
		for _, c := range cands {
			if strings.EqualFold(c.Path.Attr, name) {
				return name, c.Value.(string), true
			}
		}
	}
	if len(cands) > 0 {
		return cands[0].Path.Attr, cands[0].Value.(string), true
	}
	return "", "", false
}
