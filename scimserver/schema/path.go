package schema

import (
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// knownURNs are recognised as URN prefixes before the generic rule applies.
// The generic rule (split at the last ':') already copes with the '.' in
// "2.0", but knowing the URNs also lets a bare schema URN (a PATCH path or
// value key naming a whole extension) be told apart from urn:...:attr.
var knownURNs = []string{UserURN, GroupURN, EnterpriseUserURN}

// SplitPath splits an attribute path as a client typed it (no value filter)
// into URN, attribute and sub-attribute: "name.givenName",
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value".
// A string that is exactly a known schema URN yields Path{URN: s}.
func SplitPath(s string) Path { return splitPath(s, knownURNs) }

// SplitPath is the package-level SplitPath that also recognises this
// resource type's extension URNs (custom ones included).
func (rt *ResourceType) SplitPath(s string) Path {
	return splitPath(s, append(rt.SchemaIDs(), knownURNs...))
}

func splitPath(s string, known []string) Path {
	for _, u := range known {
		if len(s) == len(u) && strings.EqualFold(s, u) {
			return Path{URN: s}
		}
		if len(s) > len(u)+1 && s[len(u)] == ':' && strings.EqualFold(s[:len(u)], u) {
			return splitAttr(s[:len(u)], s[len(u)+1:])
		}
	}
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		i := strings.LastIndexByte(s, ':')
		return splitAttr(s[:i], s[i+1:])
	}
	return splitAttr("", s)
}

func splitAttr(urn, rest string) Path {
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		return Path{URN: urn, Attr: rest[:i], Sub: rest[i+1:]}
	}
	return Path{URN: urn, Attr: rest}
}

// Lookup resolves a path (URN prefix optional, names case-insensitive) to
// its definitions. ext is "" for the core schema and the canonical extension
// URN otherwise; sub is nil when the path names no sub-attribute.
//
// A path without a URN is looked up in the core schema and the common
// attributes (id, meta) first, then in the extensions, because Entra's legacy
// shapes name the enterprise manager without its URN (`manager[value eq ...]`).
// Errors are *scimerr.Error invalidPath.
func (rt *ResourceType) Lookup(p Path) (ext string, attr, sub *Attribute, err error) {
	if p.Attr == "" {
		return "", nil, nil, scimerr.BadRequest(scimerr.InvalidPath, "path %q names no attribute", p.String())
	}
	switch {
	case p.URN == "":
		if attr = rt.Schema.Attr(p.Attr); attr == nil {
			attr = find(rt.common, p.Attr)
		}
		if attr == nil {
			for _, e := range rt.Extensions {
				if attr = e.Schema.Attr(p.Attr); attr != nil {
					ext = e.Schema.ID
					break
				}
			}
		}
	case strings.EqualFold(p.URN, rt.Schema.ID):
		attr = rt.Schema.Attr(p.Attr)
		if attr == nil {
			attr = find(rt.common, p.Attr)
		}
	default:
		s := rt.Extension(p.URN)
		if s == nil {
			return "", nil, nil, scimerr.BadRequest(scimerr.InvalidPath,
				"path %q: schema %q is not served for %s resources", p.String(), p.URN, rt.Name)
		}
		ext, attr = s.ID, s.Attr(p.Attr)
	}
	if attr == nil {
		return "", nil, nil, scimerr.BadRequest(scimerr.InvalidPath,
			"path %q: %s resources have no attribute %q", p.String(), rt.Name, p.Attr)
	}
	if p.Sub != "" {
		if attr.Type != TypeComplex {
			return "", nil, nil, scimerr.BadRequest(scimerr.InvalidPath,
				"path %q: attribute %q has no sub-attributes", p.String(), attr.Name)
		}
		if sub = attr.Sub(p.Sub); sub == nil {
			return "", nil, nil, scimerr.BadRequest(scimerr.InvalidPath,
				"path %q: attribute %q has no sub-attribute %q", p.String(), attr.Name, p.Sub)
		}
	}
	return ext, attr, sub, nil
}
