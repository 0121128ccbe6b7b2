package patch

import (
	"reflect"
	"slices"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// target is the attribute (and sub-attribute) one operation addresses.
type target struct {
	a         *applier
	ext       string // "" = core
	attr, sub *schema.Attribute
}

// container is the map holding the attribute: the document, or the
// extension object (created on demand; Apply drops it again when empty).
func (t target) container() map[string]any {
	if t.ext == "" {
		return t.a.doc
	}
	m, ok := t.a.doc[t.ext].(map[string]any)
	if !ok {
		m = map[string]any{}
		t.a.doc[t.ext] = m
	}
	return m
}

func (t target) norm(sub *schema.Attribute, v any) (any, error) {
	return t.a.rt.NormalizeValue(t.ext, t.attr, sub, v)
}

// list returns the attribute's current elements: the array of a
// multi-valued attribute, or the single complex value as a list of one.
func (t target) list(c map[string]any) []any {
	switch v := c[t.attr.Name].(type) {
	case []any:
		return v
	case nil:
		return nil
	default:
		return []any{v}
	}
}

// store writes elements back, deleting the attribute when none remain.
func (t target) store(c map[string]any, elems []any) {
	manager := schema.IsManager(t.attr)
	empty := func(e any) bool {
		m, ok := e.(map[string]any)
		return ok && (len(m) == 0 || (manager && m["value"] == nil))
	}
	// Copied only when an element goes: a PATCH of many operations on a
	// long list would otherwise copy the list once per operation. The
	// document is Apply's own deep copy, so sharing elems is safe.
	kept := elems
	if slices.ContainsFunc(elems, empty) {
		kept = slices.DeleteFunc(slices.Clone(elems), empty)
	}
	switch {
	case len(kept) == 0:
		delete(c, t.attr.Name)
	case t.attr.MultiValued:
		c[t.attr.Name] = kept
	default:
		c[t.attr.Name] = kept[0]
	}
}

// plain applies an operation whose path has no value filter.
func (t target) plain(op string, v any) error {
	c := t.container()
	switch {
	case t.sub != nil:
		// name.givenName, manager.value; on a multi-valued attribute
		// (emails.type) every element is addressed.
		elems := t.list(c)
		if op == "remove" {
			for _, e := range elems {
				if m, ok := e.(map[string]any); ok {
					delete(m, t.sub.Name)
				}
			}
			t.store(c, elems)
			return nil
		}
		nv, err := t.norm(t.sub, v)
		if err != nil {
			return err
		}
		if len(elems) == 0 {
			if nv != nil {
				t.store(c, []any{map[string]any{t.sub.Name: nv}})
			}
			return nil
		}
		for _, e := range elems {
			if m, ok := e.(map[string]any); ok {
				setOrDelete(m, t.sub.Name, nv)
			}
		}
		t.store(c, elems)
		return nil

	case op == "remove" && t.attr.MultiValued && !absent(v):
		// remove with a value: drop the listed elements (the legacy form Entra
		// uses for members, accepted for every multi-valued attribute).
		given, err := t.norm(nil, v)
		if err != nil {
			return err
		}
		gl, _ := given.([]any)
		kept := []any{}
		for _, e := range t.list(c) {
			drop := false
			for _, g := range gl {
				if subset(g, e) {
					drop = true
					break
				}
			}
			if !drop {
				kept = append(kept, e)
			}
		}
		t.store(c, kept)
		return nil

	case op == "remove":
		delete(c, t.attr.Name)
		return nil

	case t.attr.MultiValued:
		nv, err := t.norm(nil, v)
		if err != nil {
			return err
		}
		if op == "replace" {
			setOrDelete(c, t.attr.Name, nv)
			return nil
		}
		// add appends what is not there yet. Adding nothing (null, "", [])
		// is a no-op, not a clear: Entra sends "roles": [] when no role is mapped.
		nl, _ := nv.([]any)
		elems := t.list(c)
		for _, n := range nl {
			if !contains(elems, n) {
				elems = append(elems, n)
			}
		}
		t.store(c, elems)
		return nil

	case t.attr.Type == schema.TypeComplex && !schema.IsManager(t.attr):
		// add and replace on a single complex attribute merge the given
		// sub-attributes (RFC 7644 §3.5.2.1, §3.5.2.3); "" and null clear one.
		obj, ok := v.(map[string]any)
		if !ok {
			nv, err := t.norm(nil, v)
			if err != nil {
				return err
			}
			setOrDelete(c, t.attr.Name, nv)
			return nil
		}
		m, _ := c[t.attr.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		for k, sv := range obj {
			sub := t.attr.Sub(k)
			if sub == nil || sub.ReadOnly() {
				continue
			}
			nv, err := t.norm(sub, sv)
			if err != nil {
				return err
			}
			setOrDelete(m, sub.Name, nv)
		}
		t.store(c, []any{m})
		return nil

	default:
		if schema.IsManager(t.attr) {
			if m, ok := v.(map[string]any); ok && !hasKey(m, "value") && !hasKey(m, "managerId") {
				return nil // {"displayName": ...} alone changes nothing we store
			}
		}
		// add on a single-valued attribute replaces it (RFC 7644 §3.5.2.1).
		nv, err := t.norm(nil, v)
		if err != nil {
			return err
		}
		setOrDelete(c, t.attr.Name, nv)
		return nil
	}
}

// filtered applies an operation whose path has a value filter:
// emails[type eq "work"], emails[type eq "work"].value, manager[value eq "x"].
func (t target) filtered(op string, f filter.Expr, v any) error {
	// Validated once, before any element: a bad filter is reported even
	// when there are no elements to test it on.
	match, err := filter.ElementMatcher(t.a.rt, t.attr, f)
	if err != nil {
		return err
	}
	c := t.container()
	elems := t.list(c)
	var matched []map[string]any
	for _, e := range elems {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if match(m) {
			matched = append(matched, m)
		}
	}

	if op == "remove" {
		if t.sub == nil {
			kept := []any{}
			for _, e := range elems {
				if m, ok := e.(map[string]any); !ok || !containsMap(matched, m) {
					kept = append(kept, e)
				}
			}
			t.store(c, kept)
			return nil
		}
		for _, m := range matched {
			delete(m, t.sub.Name)
		}
		t.store(c, elems)
		return nil
	}

	// add / replace
	var set map[string]any // sub-attributes to write into each target element
	if t.sub != nil {
		nv, err := t.norm(t.sub, v)
		if err != nil {
			return err
		}
		set = map[string]any{t.sub.Name: nv}
	} else {
		nv, err := t.norm(nil, v)
		if err != nil {
			return err
		}
		switch x := nv.(type) {
		case nil:
			// null / "" for a whole element: clear the matched elements.
			return t.filtered("remove", f, nil)
		case map[string]any:
			set = x
		case []any:
			if len(x) != 1 {
				return scimerr.BadRequest(scimerr.InvalidValue, "a filtered path addresses one element; the value must be one object, got %d", len(x))
			}
			set, _ = x[0].(map[string]any)
		}
		if set == nil {
			return scimerr.BadRequest(scimerr.InvalidValue, "the value for a filtered path must be an object of sub-attributes")
		}
	}

	if len(matched) == 0 {
		if t.sub != nil && set[t.sub.Name] == nil {
			return nil // clearing a sub-attribute of an element that is not there
		}
		// Upsert (contract §2.7, §6 #5): build the element the filter names.
		el, err := t.fromFilter(f)
		if err != nil {
			return err
		}
		for k, x := range set {
			setOrDelete(el, k, x)
		}
		if t.attr.MultiValued {
			elems = append(elems, el)
		} else {
			elems = []any{el}
		}
		t.store(c, elems)
		return nil
	}
	for _, m := range matched {
		for k, x := range set {
			setOrDelete(m, k, x)
		}
	}
	t.store(c, elems)
	return nil
}

// fromFilter builds a new element from the `sub eq value` terms of an
// and-chain, coercing each value to its sub-attribute's type so that
// roles[primary eq "True"] stores primary as the boolean true.
func (t target) fromFilter(f filter.Expr) (map[string]any, error) {
	el := map[string]any{}
	var walk func(filter.Expr) error
	walk = func(e filter.Expr) error {
		switch x := e.(type) {
		case *filter.Logical:
			if x.Op == "and" {
				if err := walk(x.Left); err != nil {
					return err
				}
				return walk(x.Right)
			}
		case *filter.Compare:
			if sub := t.attr.Sub(x.Path.Attr); sub != nil && x.Op == "eq" && x.Value != nil && !sub.ReadOnly() {
				nv, err := t.norm(sub, x.Value)
				if err != nil {
					return err
				}
				setOrDelete(el, sub.Name, nv)
				return nil
			}
		}
		return scimerr.BadRequest(scimerr.NoTarget,
			"no element of %q matches the filter, and only a filter of `sub eq value` terms joined by and says what element to create", t.attr.Name)
	}
	return el, walk(f)
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
}

func hasKey(m map[string]any, k string) bool {
	for key := range m {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

func absent(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	}
	return false
}

func contains(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

func containsMap(list []map[string]any, m map[string]any) bool {
	for _, e := range list {
		if sameMap(e, m) {
			return true
		}
	}
	return false
}

// subset reports whether every sub-attribute of g has the same value in e
// ({"value": "x"} selects {"value": "x", "type": "work"}); for simple
// values, whether they are equal.
func subset(g, e any) bool {
	gm, ok1 := g.(map[string]any)
	em, ok2 := e.(map[string]any)
	if !ok1 || !ok2 {
		return reflect.DeepEqual(g, e)
	}
	for k, gv := range gm {
		if !reflect.DeepEqual(em[k], gv) {
			return false
		}
	}
	return true
}
