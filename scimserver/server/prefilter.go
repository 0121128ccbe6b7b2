package server

import (
	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// textNeed derives from a filter what the JSON text of every matching
// document contains, so the store can skip decoding the rest of a scan.
// It must never exclude a match: a comparison yields a condition only when
// its value is a string compared with eq, co, sw or ew against a string
// attribute stored in the document; "not" and the other operators yield
// none, and an "or" with a branch that yields none yields none.
func textNeed(rt *schema.ResourceType, expr filter.Expr) *store.Text {
	return need(rt, nil, expr)
}

// need walks expr; ctx is the attribute of an enclosing value path, whose
// sub-attributes the comparisons inside it name.
func need(rt *schema.ResourceType, ctx *schema.Attribute, expr filter.Expr) *store.Text {
	switch x := expr.(type) {
	case *filter.Logical:
		l, r := need(rt, ctx, x.Left), need(rt, ctx, x.Right)
		if x.Op == "and" {
			return store.AllOf(l, r)
		}
		return store.AnyOf(l, r)
	case *filter.ValuePath:
		ext, a, _, err := rt.Lookup(x.Attr)
		if err != nil || !storedInDoc(ext, a) {
			return nil
		}
		return need(rt, a, x.Filter)
	case *filter.Compare:
		return compareNeed(rt, ctx, x)
	}
	return nil // *filter.Not: a negation needs nothing of the text
}

func compareNeed(rt *schema.ResourceType, ctx *schema.Attribute, c *filter.Compare) *store.Text {
	value, ok := c.Value.(string)
	if !ok {
		return nil
	}
	switch c.Op {
	case "eq", "co", "sw", "ew":
	default:
		return nil
	}
	var def *schema.Attribute
	if ctx != nil {
		def = ctx.Sub(c.Path.Attr)
	} else {
		ext, a, sub, err := rt.Lookup(c.Path)
		if err != nil || !storedInDoc(ext, a) {
			return nil
		}
		switch {
		case sub != nil:
			def = sub
		case a.Type == schema.TypeComplex:
			def = a.Sub("value")
		default:
			def = a
		}
	}
	if def == nil {
		return nil
	}
	switch def.Type {
	case schema.TypeString, schema.TypeReference, schema.TypeBinary:
		return store.Contains(value, !def.CaseExact)
	}
	return nil // booleans, numbers, dates compare by value, not by text
}

// storedInDoc reports whether the attribute's values are in the stored
// document; id, meta, schemas, members and groups are not (see matchDoc).
func storedInDoc(ext string, a *schema.Attribute) bool {
	if ext != "" {
		return true
	}
	switch a.Name {
	case "id", "meta", "schemas", "members", "groups":
		return false
	}
	return true
}
