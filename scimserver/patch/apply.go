package patch

import (
	"sort"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Result is the outcome of Apply: the new document and the ordered
// membership changes (groups only).
type Result struct {
	Doc     map[string]any
	Members []store.MemberOp
}

// Apply applies ops to doc in order. It never mutates doc and is atomic: on
// error nothing is applied. Errors are *scimerr.Error naming the operation.
//
// Choices where the contract or RFC 7644 leave room (contract §2.7–§2.11):
//   - unknown attributes and schema URNs are ignored, in paths as in
//     pathless values, as Normalize ignores them in POST and PUT bodies: an
//     attribute Entra maps but the app lacks must not fail provisioning.
//     A known attribute used impossibly (userName.x, userName[...]) is 400
//     invalidPath;
//   - operations on read-only attributes (id, meta, groups) named by path are
//     400 mutability; inside a pathless value object "id", "meta",
//     "schemas" and read-only attributes are ignored, since clients echo
//     whole resources there;
//   - remove of an absent attribute, and remove with a filter matching no
//     element, succeed (RFC 7644 would allow noTarget): Entra removes
//     members and managers that may already be gone, and retrying a PATCH
//     must be harmless;
//   - add or replace through a filter that matches nothing creates the
//     element from the filter's `eq` terms (emails[type eq "work"].value);
//     a filter without such terms (co, or, ...) that matches nothing is 400
//     noTarget;
//   - null and "" values clear;
//   - the result must still carry required attributes (userName,
//     displayName): removing them is 400 invalidValue.
func Apply(rt *schema.ResourceType, doc map[string]any, ops []Operation) (*Result, error) {
	return ApplyReporting(rt, doc, ops, nil)
}

// ApplyReporting is Apply telling unknown (when not nil) the name of every
// attribute an add or replace sets that no served schema defines, as
// schema.NormalizeReporting does for POST and PUT; an error from unknown
// fails the operation like any other. Removing an unknown attribute loses
// nothing and is not reported.
func ApplyReporting(rt *schema.ResourceType, doc map[string]any, ops []Operation, unknown schema.UnknownFunc) (*Result, error) {
	a := &applier{rt: rt, doc: deepCopyMap(doc), unknown: unknown}
	if a.doc == nil {
		a.doc = map[string]any{}
	}
	for i, op := range ops {
		if err := a.apply(op); err != nil {
			return nil, withOp(err, i, op)
		}
	}
	a.tidy()
	if err := rt.CheckRequired(a.doc); err != nil {
		return nil, err
	}
	return &Result{Doc: a.doc, Members: a.members}, nil
}

// withOp prefixes an error's detail with the operation it came from.
func withOp(err error, i int, op Operation) error {
	e, ok := scimerr.As(err)
	if !ok {
		return err
	}
	return &scimerr.Error{Status: e.Status, ScimType: e.ScimType, Detail: describeOp(i, op) + ": " + e.Detail}
}

type applier struct {
	rt      *schema.ResourceType
	doc     map[string]any
	members []store.MemberOp
	unknown schema.UnknownFunc
}

func (a *applier) apply(op Operation) error {
	if op.Path == "" {
		if op.Op == "remove" {
			return scimerr.BadRequest(scimerr.NoTarget, "remove needs a path naming what to remove")
		}
		return a.applyObject(op.Op, "", op.Value)
	}
	// A path naming a whole schema: {"op":"add","path":"urn:...:enterprise:2.0:User","value":{...}}.
	if urn, ok := a.schemaURN(op.Path); ok {
		return a.applySchema(op.Op, urn, op.Value)
	}
	ap, err := filter.ParsePath(op.Path)
	if err != nil {
		return err
	}
	if ap.Path.Attr == "" {
		// A schema URN this resource type does not serve.
		return a.dropped(op.Op, op.Path, op.Value)
	}
	return a.applyPath(op.Op, ap, op.Value)
}

// schemaURN reports whether s names one of rt's schemas (core or extension).
func (a *applier) schemaURN(s string) (string, bool) {
	if strings.EqualFold(s, a.rt.Schema.ID) {
		return a.rt.Schema.ID, true
	}
	if ext := a.rt.Extension(s); ext != nil {
		return ext.ID, true
	}
	return "", false
}

// applySchema applies an operation whose path is a schema URN.
func (a *applier) applySchema(op, urn string, v any) error {
	if op == "remove" {
		if urn == a.rt.Schema.ID {
			return scimerr.BadRequest(scimerr.Mutability, "the core schema %s cannot be removed", urn)
		}
		delete(a.doc, urn)
		return nil
	}
	if urn == a.rt.Schema.ID {
		urn = ""
	}
	return a.applyObject(op, urn, v)
}

// applyObject applies a pathless add or replace (or one whose path is a
// schema URN): each key of the value object is an attribute path of its own
// (contract §2.7): "displayName", "name.givenName",
// "urn:...:enterprise:2.0:User:employeeNumber", or a schema URN whose value
// is an object of that schema's attributes. urn is the schema the keys are
// relative to ("" = core).
func (a *applier) applyObject(op, urn string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		if v == nil && urn != "" {
			if op == "replace" {
				delete(a.doc, urn) // replace an extension with null: clear it
			}
			return nil
		}
		return scimerr.BadRequest(scimerr.InvalidValue, `without a path the value must be an object of attributes, e.g. {"displayName": "..."}`)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic order, so errors and merges are reproducible
	for _, k := range keys {
		kv := obj[k]
		switch strings.ToLower(k) {
		case "schemas", "id", "meta":
			continue
		}
		if urn == "" {
			if s, ok := a.schemaURN(k); ok {
				if s == a.rt.Schema.ID {
					s = ""
				}
				if err := a.applyObject(op, s, kv); err != nil {
					return err
				}
				continue
			}
		}
		key := k
		if urn != "" {
			key = urn + ":" + k
		}
		ap, err := filter.ParsePath(key)
		if err != nil || ap.Path.Attr == "" {
			// Not an attribute path: an unknown key, dropped.
			if err := a.dropped(op, key, kv); err != nil {
				return err
			}
			continue
		}
		if ap.Filter == nil {
			ap.Path = a.rt.SplitPath(key)
		}
		if _, attr, _, err := a.rt.Lookup(ap.Path); err == nil && attr.ReadOnly() {
			continue // echoed read-only attribute (groups): ignored as in POST
		}
		if err := a.applyPath(op, ap, kv); err != nil {
			return err
		}
	}
	return nil
}

// applyPath applies one operation to the attribute ap names.
func (a *applier) applyPath(op string, ap filter.AttrPath, v any) error {
	ext, attr, sub, err := a.rt.Lookup(ap.Path)
	if err != nil {
		if err := a.unresolved(ap.Path, err); err != nil {
			return err
		}
		return a.dropped(op, ap.Path.String(), v)
	}
	if schema.IsMembers(attr) {
		return a.membersOp(op, ap, v)
	}
	if attr.ReadOnly() || (sub != nil && sub.ReadOnly()) {
		return scimerr.BadRequest(scimerr.Mutability, "%q is read-only", ap.Path.String())
	}
	if sub == nil && op != "remove" {
		name := attr.Name
		if ext != "" {
			name = ext + ":" + name
		}
		if err := schema.ReportUnknownSubs(name, attr, v, a.unknown); err != nil {
			return err
		}
	}
	if attr.Mutability == schema.Immutable || (sub != nil && sub.Mutability == schema.Immutable) {
		return scimerr.BadRequest(scimerr.Mutability, "%q is immutable", ap.Path.String())
	}
	t := target{a: a, ext: ext, attr: attr, sub: sub}
	if ap.Filter != nil {
		if attr.Type != schema.TypeComplex {
			return scimerr.BadRequest(scimerr.InvalidPath, "%q is not a complex attribute, so it cannot take a [...] filter", attr.Name)
		}
		return keepOnePrimary(t, func() error { return t.filtered(op, ap.Filter, v) })
	}
	return keepOnePrimary(t, func() error { return t.plain(op, v) })
}

// unresolved decides what a path Lookup rejected means: a name the schema
// does not define is ignored (see Apply); a known attribute used in a way its
// definition forbids is the client's mistake and reported.
func (a *applier) unresolved(p schema.Path, err error) error {
	if p.Sub == "" {
		return nil
	}
	_, attr, _, perr := a.rt.Lookup(schema.Path{URN: p.URN, Attr: p.Attr})
	if perr == nil && attr.Type != schema.TypeComplex {
		return err
	}
	return nil
}

// dropped reports an attribute an operation sets that no schema defines
// (see ApplyReporting); a remove loses nothing and reports nothing.
func (a *applier) dropped(op, name string, v any) error {
	if op == "remove" {
		return nil
	}
	return schema.ReportUnknown(name, v, a.unknown)
}

// tidy drops extension objects that operations left empty.
func (a *applier) tidy() {
	for _, e := range a.rt.Extensions {
		if m, ok := a.doc[e.Schema.ID].(map[string]any); ok && len(m) == 0 {
			delete(a.doc, e.Schema.ID)
		}
	}
}
