package schema

import (
	"sort"
	"strings"
)

// UnknownFunc is told the name of each attribute a request carries that no
// schema the resource type serves defines, before it is dropped: a core
// name such as "shoeSize", a sub-attribute such as "name.nickname" or
// "emails.label", or an attribute of an extension the tenant does not
// declare, "urn:...:myapp:2.0:User:shoeSize". A non-nil error aborts the
// request with that error (a tenant in strict mode); nil lets the attribute
// be dropped as before, so the caller can count it.
//
// Not unknown, and never reported: "schemas", "id", "meta", read-only
// attributes (groups, manager.displayName) and members, which clients echo
// and the server ignores or stores apart; and a bare name of a declared
// extension's attribute (costCenter), which Lookup resolves.
type UnknownFunc func(name string) error

// report calls unknown when it is set.
func (f UnknownFunc) report(name string) error {
	if f == nil {
		return nil
	}
	return f(name)
}

// ReportUnknown reports a key no schema defines. A key that is a URN whose
// value is an object is taken as an undeclared extension: each of its keys
// is reported as "urn:attr", which is what an admin would declare.
func ReportUnknown(key string, v any, unknown UnknownFunc) error {
	if m, ok := v.(map[string]any); ok && len(key) > 4 && strings.EqualFold(key[:4], "urn:") {
		if len(m) == 0 {
			return nil // an empty extension object carries nothing to lose
		}
		for _, k := range sortedKeys(m) {
			if err := unknown.report(key + ":" + k); err != nil {
				return err
			}
		}
		return nil
	}
	if v == nil || v == "" {
		return nil // null and "" mean absent: nothing is lost
	}
	if key == "" {
		key = `""` // a JSON key can be empty; a name in a log or label cannot
	}
	return unknown.report(key)
}

// ReportUnknownSubs reports the keys of a complex value of a (each element's
// when a is multi-valued) that a has no sub-attribute for. name is how the
// attribute is reported (with its URN for an extension). Values of the
// wrong shape are left to NormalizeValue to refuse.
func ReportUnknownSubs(name string, a *Attribute, v any, unknown UnknownFunc) error {
	if unknown == nil || a.Type != TypeComplex || IsMembers(a) {
		return nil
	}
	// Collected, then sorted and reported once each; nothing is allocated
	// when every key is known, which is every request Entra sends.
	var unknownKeys []string
	collect := func(it any) {
		m, _ := it.(map[string]any)
		for k, sv := range m {
			if sv == nil || a.Sub(k) != nil || (IsManager(a) && strings.EqualFold(k, "managerId")) {
				continue
			}
			unknownKeys = append(unknownKeys, k)
		}
	}
	if items, ok := v.([]any); ok {
		for _, it := range items {
			collect(it)
		}
	} else {
		collect(v)
	}
	sort.Strings(unknownKeys)
	for i, k := range unknownKeys {
		if i > 0 && unknownKeys[i-1] == k {
			continue
		}
		if err := unknown.report(name + "." + k); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
