package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// NormalizeValue coerces one attribute's value as a client sent it (v
// decoded with UseNumber) into its document form. With sub nil the value is
// the whole attribute (an array for multi-valued attributes; a single
// element is wrapped), otherwise a value of that sub-attribute. A nil result
// means "absent": the caller removes the attribute.
//
// Coercions, each for an Entra shape (contract §2.4, §2.9, §2.10, §6):
//   - booleans accept "true"/"false" in any case ("True" from Entra);
//   - the enterprise manager becomes {"value": id} from a string,
//     {"value": id, ...}, {"managerId": id} (OneLogin, SCIM 1.1) or
//     [{"value": id, "$ref": ...}]; "", {"value": ""} and an object with
//     only read-only sub-attributes ({"displayName": ...}) mean absent;
//   - a roles element that is a JSON string starting with '{', or whose
//     "value" is such a string, is decoded (see decodeRole);
//   - a single object where a multi-valued complex attribute belongs becomes
//     a list of one (OneLogin sends emails so); a bare string there, or as
//     an element, is refused: no client in the contract sends one, and
//     guessing which sub-attribute it means would store what nobody sent;
//   - numeric strings are accepted for integer and decimal attributes (a
//     number where a string belongs is refused: "12345" and 12345 are
//     different JSON values, and storing one as the other hides a mapping
//     error in the client).
//
// Strings are bounded (MaxIdentifierBytes, MaxStringBytes), and the unique
// names (userName, Group displayName) must not be blank or begin or end with
// white space; see checkString. Unknown and read-only sub-attributes are
// dropped. Wrong types are 400 invalidValue naming the attribute.
func (rt *ResourceType) NormalizeValue(ext string, attr, sub *Attribute, v any) (any, error) {
	name := attr.Name
	if ext != "" {
		name = ext + ":" + name
	}
	if sub != nil {
		if IsManager(attr) {
			if sub.Name != "value" {
				return nil, nil // only the id is stored; $ref is computed
			}
		}
		return normSingle(sub, v, name+"."+sub.Name)
	}
	return normAttr(attr, v, name)
}

func normAttr(a *Attribute, v any, name string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if IsManager(a) {
		return normManager(v, name)
	}
	if !a.MultiValued {
		return normSingle(a, v, name)
	}
	items, ok := v.([]any)
	if !ok {
		if a.Type == TypeComplex {
			if IsRoles(a) {
				v = decodeRole(v)
			}
			if s, isStr := v.(string); isStr && s != "" {
				return nil, scimerr.BadRequest(scimerr.InvalidValue,
					"attribute %q is multi-valued: send an array of objects such as [{\"value\": %s}], got a bare string", name, strconvQuote(clip(s)))
			}
		}
		items = []any{v} // one object (or "", which clears) stands for a list of one
	}
	out := make([]any, 0, len(items))
	for i, it := range items {
		n, err := normSingle(a, it, fmt.Sprintf("%s[%d]", name, i))
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// normSingle normalises one value of a (one element when a is multi-valued).
func normSingle(a *Attribute, v any, name string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.Type != TypeComplex {
		return normScalar(a, v, name)
	}
	if IsRoles(a) {
		v = decodeRole(v)
	}
	m, ok := v.(map[string]any)
	if !ok {
		s, isStr := v.(string)
		switch {
		case isStr && s == "":
			return nil, nil
		case isStr && a.MultiValued:
			return nil, scimerr.BadRequest(scimerr.InvalidValue,
				"attribute %q: each element of %q is an object such as {\"value\": %s}, got a bare string", name, a.Name, strconvQuote(clip(s)))
		default:
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "attribute %q: expected a JSON object, got %s", name, describe(v))
		}
	}
	out := make(map[string]any, len(m))
	for k, sv := range m {
		s := a.Sub(k)
		if s == nil || s.ReadOnly() {
			continue
		}
		n, err := normSingle(s, sv, name+"."+s.Name)
		if err != nil {
			return nil, err
		}
		if n != nil {
			out[s.Name] = n
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// normManager accepts every manager shape of contract §2.9 and returns
// {"value": id} or nil.
func normManager(v any, name string) (any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == "" {
			return nil, nil
		}
		return map[string]any{"value": t}, nil
	case json.Number:
		return map[string]any{"value": string(t)}, nil
	case []any:
		if len(t) == 0 {
			return nil, nil
		}
		if len(t) > 1 {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "attribute %q: a user has one manager, got %d", name, len(t))
		}
		return normManager(t[0], name)
	case map[string]any:
		// OneLogin's enterprise template sends {"managerId": id}, the SCIM
		// 1.1 name: an alias of value, never dropped (issue #15 item 3).
		var id, alias any
		var hasID, hasAlias bool
		for k, x := range t {
			switch {
			case strings.EqualFold(k, "value"):
				id, hasID = x, true
			case strings.EqualFold(k, "managerId"):
				alias, hasAlias = x, true
			}
		}
		switch {
		case hasID && hasAlias && id != nil && alias != nil && fmt.Sprint(id) != fmt.Sprint(alias):
			return nil, scimerr.BadRequest(scimerr.InvalidValue,
				"attribute %q: value %s and managerId %s name different managers; send one of them", name, describe(id), describe(alias))
		case !hasID && hasAlias:
			id = alias
		}
		switch x := id.(type) {
		case nil:
			return nil, nil
		case string:
			return normManager(x, name)
		case json.Number:
			return normManager(x, name)
		}
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "attribute %q: manager.value must be the manager's id as a string, got %s", name, describe(id))
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "attribute %q: expected the manager's id or {\"value\": id}, got %s", name, describe(v))
}

// decodeRole handles contract §2.10: Entra's SingleAppRoleAssignment PATCH
// sends roles as [{"value": "{\"id\":...,\"value\":\"25\",\"displayName\":\"Role1234\"}"}].
// We decode the embedded JSON so PATCH stores what POST would have stored:
// its "value" becomes value, "displayName" (or "display") display, "type"
// and "primary" carry over, and the Entra app role "id" is used as value only
// when the object has no value (roles has no id sub-attribute). Sub-attributes
// sent beside the string win over the embedded ones. A string that is not a
// JSON object is kept verbatim as the value: we store what was sent.
func decodeRole(v any) any {
	var outer map[string]any
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case map[string]any:
		for k, x := range t {
			if strings.EqualFold(k, "value") {
				s, _ = x.(string)
			}
		}
		outer = t
	default:
		return v
	}
	trimmed := strings.TrimSpace(s)
	if !strings.HasPrefix(trimmed, "{") {
		return v
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.UseNumber()
	var inner map[string]any
	if err := dec.Decode(&inner); err != nil || dec.More() {
		return v
	}
	role := map[string]any{}
	var id any
	for k, x := range inner {
		switch strings.ToLower(k) {
		case "value":
			role["value"] = x
		case "displayname", "display":
			role["display"] = x
		case "type":
			role["type"] = x
		case "primary":
			role["primary"] = x
		case "id":
			id = x
		}
	}
	if role["value"] == nil && id != nil {
		role["value"] = id
	}
	for k, x := range outer {
		if !strings.EqualFold(k, "value") {
			role[k] = x
		}
	}
	return role
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func normScalar(a *Attribute, v any, name string) (any, error) {
	if s, ok := v.(string); ok && s == "" {
		return nil, nil
	}
	bad := func(want string) error {
		return scimerr.BadRequest(scimerr.InvalidValue, "attribute %q: expected %s, got %s", name, want, describe(v))
	}
	switch a.Type {
	case TypeString, TypeReference, TypeBinary:
		if t, ok := v.(string); ok {
			return t, checkString(a, t, name)
		}
		return nil, bad("a string")
	case TypeBoolean:
		switch t := v.(type) {
		case bool:
			return t, nil
		case string:
			if strings.EqualFold(t, "true") {
				return true, nil
			}
			if strings.EqualFold(t, "false") {
				return false, nil
			}
		}
		return nil, bad("a boolean (true or false)")
	case TypeInteger:
		var s string
		switch t := v.(type) {
		case json.Number:
			s = string(t)
		case string:
			s = strings.TrimSpace(t)
		case float64:
			if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
				return json.Number(strconv.FormatInt(int64(t), 10)), nil
			}
		case int:
			return json.Number(strconv.Itoa(t)), nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return json.Number(strconv.FormatInt(n, 10)), nil
		}
		return nil, bad("an integer")
	case TypeDecimal:
		switch t := v.(type) {
		case json.Number:
			if jsonNumber.MatchString(string(t)) {
				return t, nil
			}
		case string:
			if s := strings.TrimSpace(t); jsonNumber.MatchString(s) {
				return json.Number(s), nil
			}
		case float64:
			if !math.IsNaN(t) && !math.IsInf(t, 0) {
				return json.Number(strconv.FormatFloat(t, 'g', -1, 64)), nil
			}
		case int:
			return json.Number(strconv.Itoa(t)), nil
		}
		return nil, bad("a decimal number")
	case TypeDateTime:
		if s, ok := v.(string); ok {
			if _, err := ParseDateTime(s); err == nil {
				return s, nil // stored as sent
			}
		}
		return nil, bad("an xsd:dateTime such as \"2026-01-05T10:00:00Z\"")
	}
	return nil, bad("a value of type " + a.Type)
}

// ParseDateTime parses an xsd:dateTime (RFC 7643 §2.3.5): RFC 3339 with an
// optional fraction; a missing zone is read as UTC.
func ParseDateTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// clip shortens a client's value for an error detail.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// String size limits, in bytes of UTF-8. Entra sends at most a few hundred
// characters per attribute (directory attributes are capped at 256 to 1024
// characters); the limits are far above that and only stop a client from
// storing megabytes per value (a 3.5 MiB userName was once accepted).
const (
	// MaxIdentifierBytes bounds userName, displayName and externalId: names
	// that are indexed, matched and shown.
	MaxIdentifierBytes = 1024
	// MaxStringBytes bounds every other string, reference and binary value
	// (an x509 certificate in base64 is 2-3 KiB).
	MaxStringBytes = 16 << 10
)

func maxBytes(a *Attribute) int {
	switch a.Name {
	case "userName", "displayName", "externalId":
		return MaxIdentifierBytes
	}
	return MaxStringBytes
}

// checkString bounds a string value and keeps the unique names usable.
// A unique name (userName, Group displayName) that is blank, or that begins
// or ends with white space, is refused rather than trimmed: Entra sends
// values verbatim and finds them again with `eq` on the same verbatim
// value, so trimming would make its lookup miss and its create collide
// (409) on every cycle, and storing it would let " bob" and "bob" be two
// users nobody can tell apart. docs/scimserver.md explains the choice.
func checkString(a *Attribute, s, name string) error {
	if n, limit := len(s), maxBytes(a); n > limit {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"attribute %q is %d bytes long; the limit is %d bytes (UTF-8)", name, n, limit)
	}
	if a.Uniqueness == UniqueNone || a.Uniqueness == "" {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		return scimerr.BadRequest(scimerr.InvalidValue, "attribute %q must not be blank, got %s", name, strconvQuote(clip(s)))
	}
	if strings.TrimSpace(s) != s {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"attribute %q must not begin or end with white space, got %s; remove the spaces in the identity provider's source value", name, strconvQuote(clip(s)))
	}
	return nil
}
