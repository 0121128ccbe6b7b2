package patch

import (
	"encoding/json"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// membersOp turns an operation on a Group's members into MemberOps
// (contract §2.11):
//
//	add     members            [{value}...]  -> add
//	remove  members            [{value}...]  -> remove just those (Entra's legacy form)
//	remove  members            (no value)    -> clear (RFC 7644)
//	remove  members[value eq "id"]           -> remove id (the compliant form)
//	replace members            [{value}...]  -> clear, then add
//
// An empty list adds or removes nothing: reading `remove members []` as
// "clear" would wipe a group on a client's empty diff.
func (a *applier) membersOp(op string, ap filter.AttrPath, v any) error {
	if ap.Path.Sub != "" {
		return scimerr.BadRequest(scimerr.Mutability,
			`members' sub-attributes cannot be changed; add or remove members by id ("members" or members[value eq "id"])`)
	}
	if ap.Filter != nil {
		ids, err := memberFilterIDs(ap.Filter)
		if err != nil {
			return err
		}
		ms := make([]store.Member, len(ids))
		for i, id := range ids {
			ms[i] = store.Member{Value: id}
		}
		kind := store.MemberAdd
		if op == "remove" {
			kind = store.MemberRemove
		}
		a.members = append(a.members, store.MemberOp{Kind: kind, Members: ms})
		return nil
	}
	if op == "remove" && (v == nil || v == "") {
		a.members = append(a.members, store.MemberOp{Kind: store.MemberClear})
		return nil
	}
	ms, err := ParseMembers(v)
	if err != nil {
		return err
	}
	switch op {
	case "replace":
		a.members = append(a.members, store.MemberOp{Kind: store.MemberClear})
		if len(ms) > 0 {
			a.members = append(a.members, store.MemberOp{Kind: store.MemberAdd, Members: ms})
		}
	case "add":
		if len(ms) > 0 {
			a.members = append(a.members, store.MemberOp{Kind: store.MemberAdd, Members: ms})
		}
	case "remove":
		if len(ms) > 0 {
			a.members = append(a.members, store.MemberOp{Kind: store.MemberRemove, Members: ms})
		}
	}
	return nil
}

// memberFilterIDs reads the ids of `value eq "id"` (or several joined by
// or). Other member filters would need the member rows loaded, which a
// 100,000-member group must not require.
func memberFilterIDs(e filter.Expr) ([]string, error) {
	switch x := e.(type) {
	case *filter.Compare:
		if id, ok := x.Value.(string); ok && x.Op == "eq" && id != "" && x.Path.URN == "" && x.Path.Sub == "" && strings.EqualFold(x.Path.Attr, "value") {
			return []string{id}, nil
		}
	case *filter.Logical:
		if x.Op == "or" {
			l, err := memberFilterIDs(x.Left)
			if err != nil {
				return nil, err
			}
			r, err := memberFilterIDs(x.Right)
			if err != nil {
				return nil, err
			}
			return append(l, r...), nil
		}
	}
	return nil, scimerr.BadRequest(scimerr.InvalidFilter,
		`only members[value eq "<id>"] (optionally several joined by or) is supported as a members filter`)
}

// ParseMembers reads a members value as clients send it: an array of
// {"value": id, "display"?, "type"?, "$ref"?} (Entra sends "$ref": null), a
// single such object, or bare id strings. Duplicates are dropped, order is
// kept. The server uses it for POST and PUT bodies too. Errors are
// *scimerr.Error invalidValue.
func ParseMembers(v any) ([]store.Member, error) {
	var items []any
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []any:
		items = t
	default:
		items = []any{t}
	}
	seen := map[string]bool{}
	out := make([]store.Member, 0, len(items))
	for i, it := range items {
		var m store.Member
		switch t := it.(type) {
		case nil:
			continue
		case string:
			m.Value = t
		case map[string]any:
			for k, x := range t {
				s, _ := x.(string)
				if n, ok := x.(json.Number); ok {
					s = string(n)
				}
				switch strings.ToLower(k) {
				case "value":
					if x != nil && s == "" && x != "" {
						return nil, scimerr.BadRequest(scimerr.InvalidValue, "members[%d].value must be the member's id as a string", i)
					}
					m.Value = s
				case "display":
					m.Display = s
				case "type":
					m.Type = s
				}
			}
			if m.Value == "" {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, `members[%d] has no "value": give the member's id, e.g. {"value": "9f0c..."}`, i)
			}
		default:
			return nil, scimerr.BadRequest(scimerr.InvalidValue, `members[%d] must be an object such as {"value": "<id>"}`, i)
		}
		if m.Value == "" || seen[m.Value] {
			continue
		}
		seen[m.Value] = true
		out = append(out, m)
	}
	return out, nil
}
