package schema

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Normalize turns a decoded POST or PUT body into a document:
//
//   - attribute names get their canonical casing; extension attributes are
//     nested under their schema URN; top-level keys of the form
//     "urn:...:attr" and "attr.sub" are accepted as Entra's PATCH values are;
//   - "schemas" (even with unknown or misspelt URNs), "id", "meta",
//     read-only attributes (groups) and Group "members" (stored apart) are
//     dropped, as are attributes no served schema defines;
//   - values are coerced per NormalizeValue; null, "" and empty lists mean
//     absent, so such attributes are left out;
//   - required attributes (userName, Group displayName, required custom
//     attributes of a present extension) must remain.
//
// Errors are *scimerr.Error: invalidValue naming the attribute for a value of
// the wrong type, invalidSyntax for a missing body.
func (rt *ResourceType) Normalize(body map[string]any) (map[string]any, error) {
	return rt.NormalizeReporting(body, nil)
}

// NormalizeReporting is Normalize telling unknown (when not nil) the name of
// every attribute it drops because no served schema defines it; an error
// from unknown is returned as is.
func (rt *ResourceType) NormalizeReporting(body map[string]any, unknown UnknownFunc) (map[string]any, error) {
	if body == nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body must be a JSON object")
	}
	doc := map[string]any{}
	// Sorted keys make the outcome independent of map order when a client
	// sends both "name" and "name.givenName", and make errors reproducible.
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := body[k]
		switch strings.ToLower(k) {
		case "schemas", "id", "meta":
			continue
		}
		if ext := rt.Extension(k); ext != nil {
			if err := rt.normalizeExtension(doc, ext, v, unknown); err != nil {
				return nil, err
			}
			continue
		}
		p := rt.SplitPath(k)
		if p.Attr == "" {
			// A schema URN this type does not extend with (the Group URN on
			// a user), or the core URN as a key: its content is dropped.
			if err := ReportUnknown(k, v, unknown); err != nil {
				return nil, err
			}
			continue
		}
		ext, a, sub, err := rt.Lookup(p)
		if err != nil {
			// Unknown attribute or undeclared extension: dropped (see the
			// package design), but never without telling.
			if err := ReportUnknown(k, v, unknown); err != nil {
				return nil, err
			}
			continue
		}
		if err := rt.set(doc, ext, a, sub, v, unknown); err != nil {
			return nil, err
		}
	}
	if err := rt.CheckRequired(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func (rt *ResourceType) normalizeExtension(doc map[string]any, ext *Schema, v any, unknown UnknownFunc) error {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidValue, "%q must be a JSON object of extension attributes, got %s", ext.ID, describe(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := splitAttr(ext.ID, k)
		_, a, sub, err := rt.Lookup(p)
		if err != nil {
			if m[k] != nil {
				if err := unknown.report(ext.ID + ":" + k); err != nil {
					return err
				}
			}
			continue
		}
		if err := rt.set(doc, ext.ID, a, sub, m[k], unknown); err != nil {
			return err
		}
	}
	return nil
}

// set normalises v and stores it in doc at ext/a[.sub], deleting the
// attribute when v means absent. Read-only attributes and members are
// ignored: input for them is not an error, just not ours to store.
func (rt *ResourceType) set(doc map[string]any, ext string, a, sub *Attribute, v any, unknown UnknownFunc) error {
	if a.ReadOnly() || IsMembers(a) || (sub != nil && sub.ReadOnly()) {
		return nil
	}
	if sub == nil {
		name := a.Name
		if ext != "" {
			name = ext + ":" + name
		}
		if err := ReportUnknownSubs(name, a, v, unknown); err != nil {
			return err
		}
	}
	if sub != nil && a.MultiValued {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"%q: %q is multi-valued; set whole elements, e.g. %q: [{...}]", a.Name+"."+sub.Name, a.Name, a.Name)
	}
	nv, err := rt.NormalizeValue(ext, a, sub, v)
	if err != nil {
		return err
	}
	target := doc
	if ext != "" {
		m, _ := doc[ext].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		doc[ext] = m
		target = m
		defer func() {
			if len(m) == 0 {
				delete(doc, ext)
			}
		}()
	}
	if sub != nil {
		m, _ := target[a.Name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if nv == nil {
			delete(m, sub.Name)
		} else {
			m[sub.Name] = nv
		}
		if len(m) == 0 || (IsManager(a) && m["value"] == nil) {
			delete(target, a.Name)
		} else {
			target[a.Name] = m
		}
		return nil
	}
	if nv == nil {
		delete(target, a.Name)
		return nil
	}
	// A whole complex value merges with sub-attributes a dotted key set
	// earlier ("name.givenName" sorted before "name" when differently cased).
	if nm, ok := nv.(map[string]any); ok && !IsManager(a) {
		if old, ok := target[a.Name].(map[string]any); ok {
			for k, ov := range old {
				if _, ok := nm[k]; !ok {
					nm[k] = ov
				}
			}
		}
	}
	target[a.Name] = nv
	return nil
}

// CheckRequired reports (as 400 invalidValue) the first required attribute
// missing from doc: userName, Group displayName, the attributes of a required
// extension and the required attributes of an extension that is present.
func (rt *ResourceType) CheckRequired(doc map[string]any) error {
	for _, a := range rt.Schema.Attributes {
		if a.Required && !a.ReadOnly() && !IsMembers(a) && absent(doc[a.Name]) {
			return scimerr.BadRequest(scimerr.InvalidValue, "attribute %q is required", a.Name)
		}
	}
	for _, e := range rt.Extensions {
		m, _ := doc[e.Schema.ID].(map[string]any)
		if m == nil {
			if e.Required {
				return scimerr.BadRequest(scimerr.InvalidValue, "extension %q is required", e.Schema.ID)
			}
			continue
		}
		for _, a := range e.Schema.Attributes {
			if a.Required && absent(m[a.Name]) {
				return scimerr.BadRequest(scimerr.InvalidValue, "attribute %q is required", e.Schema.ID+":"+a.Name)
			}
		}
	}
	return nil
}

func absent(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

// describe names a JSON value's type (and a short excerpt) for error details.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconvQuote(clip(t))
	case bool:
		if t {
			return "boolean true"
		}
		return "boolean false"
	case json.Number:
		return "number " + string(t)
	case float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unsupported value"
}
