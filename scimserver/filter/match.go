package filter

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Match reports whether doc satisfies e. doc is a document (see the package
// design) that the server has extended with id, meta and, for groups whose
// filter names them, members.
//
// Semantics (RFC 7644 §3.4.2.2):
//   - string comparisons honour the attribute's caseExact (userName and Group
//     displayName are case-insensitive, id and externalId are exact);
//   - a multi-valued attribute matches if any element matches; a complex
//     attribute named without a sub-attribute compares its "value"
//     (`manager eq "id"`, `emails co "@x"`, `members eq "id"`);
//   - dateTime attributes compare as instants, numbers numerically;
//   - `ne` is the negation of `eq`; `eq null` matches an absent attribute;
//   - attributes the resource type does not define match nothing: Entra
//     expects 200 with an empty list, never an error, for a filter on an
//     attribute the app does not have (contract §6 #8).
//
// Match first checks e against the schema so that errors (400
// invalidFilter: gt on a boolean, a malformed date, ...) do not depend on the
// data; evaluation itself cannot fail.
func Match(rt *schema.ResourceType, e Expr, doc map[string]any) (bool, error) {
	if err := Validate(rt, e); err != nil {
		return false, err
	}
	return eval(rt, e, doc, nil, nil), nil
}

// Validate checks e against rt's schema without evaluating it: operators
// must suit the attribute's type and literal values must parse (dates,
// numbers, booleans). Errors are *scimerr.Error invalidFilter.
func Validate(rt *schema.ResourceType, e Expr) error {
	return validate(rt, e, nil)
}

func validate(rt *schema.ResourceType, e Expr, ctx *schema.Attribute) error {
	switch x := e.(type) {
	case *Logical:
		if err := validate(rt, x.Left, ctx); err != nil {
			return err
		}
		return validate(rt, x.Right, ctx)
	case *Not:
		return validate(rt, x.X, ctx)
	case *ValuePath:
		_, a, _, err := rt.Lookup(x.Attr)
		if err != nil {
			return nil // unknown: matches nothing
		}
		if a.Type != schema.TypeComplex {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is not a complex attribute, so it cannot take a [...] value filter", x.Attr.String())
		}
		return validate(rt, x.Filter, a)
	case *Compare:
		a, def := resolve(rt, x.Path, ctx)
		if a == nil {
			return nil
		}
		return checkCompare(x, a, def)
	}
	return scimerr.BadRequest(scimerr.InvalidFilter, "unsupported filter expression %T", e)
}

// resolve finds the attribute a compare names and the definition its values
// follow (a sub-attribute, the "value" of a complex attribute, or a itself).
// a is nil for unknown attributes; def is nil for a complex attribute with
// no "value" sub-attribute.
func resolve(rt *schema.ResourceType, p schema.Path, ctx *schema.Attribute) (a, def *schema.Attribute) {
	if ctx != nil {
		a = ctx.Sub(p.Attr)
		return a, a
	}
	_, a, sub, err := rt.Lookup(p)
	if err != nil {
		return nil, nil
	}
	switch {
	case sub != nil:
		return a, sub
	case a.Type == schema.TypeComplex:
		return a, a.Sub("value")
	}
	return a, a
}

func checkCompare(c *Compare, a, def *schema.Attribute) error {
	if c.Op == "pr" {
		return nil
	}
	name := c.Path.String()
	if def == nil {
		return scimerr.BadRequest(scimerr.InvalidFilter, "%q is complex; compare one of its sub-attributes (e.g. %s.%s)", name, name, a.SubAttributes[0].Name)
	}
	if c.Value == nil {
		if c.Op != "eq" && c.Op != "ne" {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q %s null: null can only be compared with eq or ne", name, c.Op)
		}
		return nil
	}
	ordered := c.Op == "gt" || c.Op == "ge" || c.Op == "lt" || c.Op == "le"
	substr := c.Op == "co" || c.Op == "sw" || c.Op == "ew"
	switch def.Type {
	case schema.TypeBoolean:
		if ordered || substr {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is boolean; only eq and ne apply, not %s", name, c.Op)
		}
		if _, ok := toBool(c.Value); !ok {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is boolean; compare it with true or false", name)
		}
	case schema.TypeInteger, schema.TypeDecimal:
		if substr {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is a number; %s applies to strings", name, c.Op)
		}
		if _, ok := toRat(c.Value); !ok {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is a number; compare it with a number", name)
		}
	case schema.TypeDateTime:
		if substr {
			return nil
		}
		if _, ok := toTime(c.Value); !ok {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is a dateTime; compare it with a date such as \"2026-01-05T10:00:00Z\"", name)
		}
	case schema.TypeBinary:
		if ordered || substr {
			return scimerr.BadRequest(scimerr.InvalidFilter, "%q is binary; only eq and ne apply", name)
		}
	}
	return nil
}

func eval(rt *schema.ResourceType, e Expr, doc map[string]any, ctx *schema.Attribute, elem map[string]any) bool {
	switch x := e.(type) {
	case *Logical:
		if x.Op == "and" {
			return eval(rt, x.Left, doc, ctx, elem) && eval(rt, x.Right, doc, ctx, elem)
		}
		return eval(rt, x.Left, doc, ctx, elem) || eval(rt, x.Right, doc, ctx, elem)
	case *Not:
		return !eval(rt, x.X, doc, ctx, elem)
	case *ValuePath:
		ext, a, _, err := rt.Lookup(x.Attr)
		if err != nil {
			return false
		}
		for _, el := range elements(container(doc, ext)[a.Name]) {
			if m, ok := el.(map[string]any); ok && eval(rt, x.Filter, doc, a, m) {
				return true
			}
		}
		return false
	case *Compare:
		return evalCompare(rt, x, doc, ctx, elem)
	}
	return false
}

func container(doc map[string]any, ext string) map[string]any {
	if ext == "" {
		return doc
	}
	m, _ := doc[ext].(map[string]any)
	return m
}

// elements views a value as a list: multi-valued attributes are arrays, a
// single complex value (manager) is a list of one.
func elements(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	case []map[string]any:
		out := make([]any, len(t))
		for i, m := range t {
			out[i] = m
		}
		return out
	}
	return []any{v}
}

func evalCompare(rt *schema.ResourceType, c *Compare, doc map[string]any, ctx *schema.Attribute, elem map[string]any) bool {
	var raw any
	var a, def *schema.Attribute
	if ctx != nil {
		a = ctx.Sub(c.Path.Attr)
		if a == nil {
			return false
		}
		def, raw = a, elem[a.Name]
	} else {
		ext, attr, sub, err := rt.Lookup(c.Path)
		if err != nil {
			return false
		}
		a, raw = attr, container(doc, ext)[attr.Name]
		def = sub
		if def == nil {
			if a.Type == schema.TypeComplex {
				def = a.Sub("value")
			} else {
				def = a
			}
		}
	}
	// Collect the scalar values the comparison is about.
	var vals []any
	for _, el := range elements(raw) {
		if a.Type == schema.TypeComplex && ctx == nil {
			m, ok := el.(map[string]any)
			if !ok || def == nil {
				if c.Op == "pr" && present(el) {
					return true
				}
				continue
			}
			el = m[def.Name]
		}
		if present(el) {
			vals = append(vals, el)
		}
	}
	switch {
	case c.Op == "pr":
		return len(vals) > 0
	case c.Value == nil:
		return (len(vals) == 0) == (c.Op == "eq")
	case c.Op == "ne":
		return !anyMatch(def, vals, "eq", c.Value)
	}
	return anyMatch(def, vals, c.Op, c.Value)
}

func present(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}

func anyMatch(def *schema.Attribute, vals []any, op string, want any) bool {
	for _, v := range vals {
		if compareOne(def, v, op, want) {
			return true
		}
	}
	return false
}

func compareOne(def *schema.Attribute, have any, op string, want any) bool {
	switch def.Type {
	case schema.TypeBoolean:
		h, ok1 := toBool(have)
		w, ok2 := toBool(want)
		return ok1 && ok2 && op == "eq" && h == w
	case schema.TypeInteger, schema.TypeDecimal:
		h, ok1 := toRat(have)
		w, ok2 := toRat(want)
		return ok1 && ok2 && ordered(op, h.Cmp(w))
	case schema.TypeDateTime:
		if op != "co" && op != "sw" && op != "ew" {
			h, ok1 := toTime(have)
			w, ok2 := toTime(want)
			return ok1 && ok2 && ordered(op, h.Compare(w))
		}
	}
	h, w := toText(have), toText(want)
	if !def.CaseExact {
		if op == "eq" {
			return strings.EqualFold(h, w)
		}
		h, w = strings.ToLower(h), strings.ToLower(w)
	}
	switch op {
	case "co":
		return strings.Contains(h, w)
	case "sw":
		return strings.HasPrefix(h, w)
	case "ew":
		return strings.HasSuffix(h, w)
	}
	return ordered(op, strings.Compare(h, w))
}

func ordered(op string, cmp int) bool {
	switch op {
	case "eq":
		return cmp == 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	return false
}

func toBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		// Filters such as roles[primary eq "True"] quote booleans (contract §2.7).
		if strings.EqualFold(t, "true") {
			return true, true
		}
		if strings.EqualFold(t, "false") {
			return false, true
		}
	}
	return false, false
}

func toRat(v any) (*big.Rat, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(t)
	case float64, int, int64:
		s = fmt.Sprint(t)
	default:
		return nil, false
	}
	// Only JSON-number syntax: big.Rat also reads "1/3" and huge exponents
	// that would make SetString slow on hostile input.
	if !numberRE.MatchString(s) || len(s) > 64 {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(s[i+1:]); err != nil || exp > 400 || exp < -400 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

func toTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case string:
		tm, err := schema.ParseDateTime(t)
		return tm, err == nil
	}
	return time.Time{}, false
}

func toText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return string(t)
	case bool:
		if t {
			return "true"
		}
		return "false"
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
