package server

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// sortOrder builds the ordering for sortBy/sortOrder (RFC 7644 §3.4.2.3).
// Resources without a value sort last in ascending order; the store keeps
// creation order for ties, so pages are stable.
//
// RFC 7644 lets a server ignore a sortBy it cannot honour or refuse it; we
// refuse (400 invalidPath naming the attribute) an attribute the resource
// type does not define and one that has no value to sort by (a complex
// attribute without "value", such as name, and the computed members and
// groups): ignoring would answer 200 in an order the client did not ask
// for, and a typo (usrName) would go unnoticed. A defined attribute that no
// resource has is fine: every key is absent and creation order remains.
//
// For an attribute the type does not define, the error comes with an order
// whose keys are all absent: a root search across types accepts a sortBy
// that only some of its types define (the others sort last).
func sortOrder(rt *schema.ResourceType, sortBy, sortOrder string) (*store.Order, error) {
	desc := false
	switch strings.ToLower(strings.TrimSpace(sortOrder)) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return nil, scimerr.BadRequest(scimerr.InvalidValue, `sortOrder must be "ascending" or "descending", got %q`, sortOrder)
	}
	cmp := compareKeys
	if desc {
		cmp = func(x, y any) int { return compareKeys(y, x) }
	}
	ext, a, sub, err := rt.Lookup(rt.SplitPath(strings.TrimSpace(sortBy)))
	if err != nil {
		absent := &store.Order{Key: func(*store.Resource) any { return nil }, Compare: cmp, Desc: desc}
		return absent, scimerr.BadRequest(scimerr.InvalidPath,
			"sortBy %q: %v; sort by an attribute of the %s schema or a served extension, e.g. %s or meta.created",
			sortBy, errDetail(err), rt.Name, sortExample(rt))
	}
	if sub == nil && a.Type == schema.TypeComplex && a.Sub("value") == nil {
		hint := ""
		if len(a.SubAttributes) > 0 {
			hint = ", e.g. " + a.Name + "." + a.SubAttributes[0].Name
		}
		return nil, scimerr.BadRequest(scimerr.InvalidPath,
			"sortBy %q: %q is a complex attribute; sort by one of its sub-attributes%s", sortBy, a.Name, hint)
	}
	if ext == "" && (schema.IsMembers(a) || rt.Name == "User" && a.Name == "groups") {
		return nil, scimerr.BadRequest(scimerr.InvalidPath,
			"sortBy %q: %q is computed from group memberships and cannot be sorted by", sortBy, a.Name)
	}
	caseExact := a.CaseExact
	if sub != nil {
		caseExact = sub.CaseExact
	}
	o := &store.Order{
		Key:     func(r *store.Resource) any { return sortKey(r, ext, a, sub, caseExact) },
		Compare: cmp,
		Desc:    desc,
	}
	// The required, unique, case-insensitive names have a folded index:
	// an unfiltered list sorted on them pages in SQL without reading
	// every resource. sortKey folds the same way, so both orders agree.
	if ext == "" && sub == nil && (rt.Name == "User" && a.Name == "userName" || rt.Name == "Group" && a.Name == "displayName") {
		o.Column = a.Name
	}
	return o, nil
}

// rootLess orders resources of different types for a root search by their
// keys (kx, ky: o.Key of x and y, computed once per resource), then
// creation time, then id.
func rootLess(o *store.Order, kx, ky any, x, y *store.Resource) bool {
	if c := o.Compare(kx, ky); c != 0 {
		return c < 0
	}
	if !x.Created.Equal(y.Created) {
		return x.Created.Before(y.Created)
	}
	return x.ID < y.ID
}

func sortExample(rt *schema.ResourceType) string {
	if rt.Name == "User" {
		return "userName"
	}
	return "displayName"
}

func errDetail(err error) string {
	if e, ok := scimerr.As(err); ok {
		return e.Detail
	}
	return err.Error()
}

// sortKey extracts the value to sort on: a string (folded unless caseExact),
// a float64, a bool or a time; nil when absent. For a multi-valued
// attribute the primary element (else the first) is used.
func sortKey(r *store.Resource, ext string, a, sub *schema.Attribute, caseExact bool) any {
	var v any
	switch {
	case ext == "" && a.Name == "id":
		v = r.ID
	case ext == "" && a.Name == "meta":
		if sub == nil {
			return nil
		}
		switch sub.Name {
		case "created":
			return r.Created
		case "lastModified":
			return r.LastModified
		case "version":
			return float64(r.Version)
		case "resourceType":
			v = string(r.Kind)
		}
	default:
		doc := r.Doc
		if ext != "" {
			doc, _ = r.Doc[ext].(map[string]any)
		}
		v = doc[a.Name]
		if list, ok := v.([]any); ok {
			v = primaryElement(list)
		}
		if sub != nil {
			m, _ := v.(map[string]any)
			v = m[sub.Name]
		} else if m, ok := v.(map[string]any); ok {
			v = m["value"]
		}
	}
	switch t := v.(type) {
	case string:
		if !caseExact {
			return store.Fold(t) // as the userName and displayName indexes fold
		}
		return t
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return t.String()
		}
		return f
	case bool:
		return t
	}
	return nil
}

func primaryElement(list []any) any {
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["primary"] == true {
			return m
		}
	}
	if len(list) > 0 {
		return list[0]
	}
	return nil
}

// compareKeys orders keys; nil (absent) sorts after everything. Keys of
// different kinds order by kind so the order stays total.
func compareKeys(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return 1
		}
		return -1
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return kindRank(a) - kindRank(b)
}

func kindRank(v any) int {
	switch v.(type) {
	case bool:
		return 0
	case float64:
		return 1
	case string:
		return 2
	case time.Time:
		return 3
	}
	return 4
}
