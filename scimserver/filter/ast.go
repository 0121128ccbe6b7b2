// Package filter parses SCIM filters (RFC 7644 §3.4.2.2) and PATCH attribute
// paths (RFC 7644 §3.5.2) into an AST and evaluates filters over documents.
//
// The parser is hand-written: a byte lexer and a recursive-descent parser
// whose recursion depth and input size are bounded, so hostile query strings
// cannot exhaust the stack. Every error is a *scimerr.Error (invalidFilter for
// filters, invalidPath for paths) whose detail names the offending character
// offset.
package filter

import "github.com/scim-operator/scim-operator/scimserver/schema"

// Expr is a parsed filter expression: *Compare, *Logical, *Not or *ValuePath.
type Expr interface{ expr() }

// Compare is `path op value`, or `path pr` (Value nil). Value is a string, a
// bool, a json.Number or nil (null, or pr). Inside a ValuePath's filter the
// path names a sub-attribute of the value path's attribute (Path.Attr only).
type Compare struct {
	Path  schema.Path
	Op    string // eq ne co sw ew gt ge lt le pr (lower case)
	Value any
}

// Logical is `left and right` or `left or right`.
type Logical struct {
	Op          string // "and" or "or"
	Left, Right Expr
}

// Not is `not (x)`.
type Not struct{ X Expr }

// ValuePath is `attr[filter]`: some element of the multi-valued (or single
// complex) attribute Attr satisfies Filter, whose paths are relative to it.
// Entra's `emails[type eq "work"].value eq "x"` parses as the ValuePath
// emails[type eq "work" and value eq "x"].
type ValuePath struct {
	Attr   schema.Path // URN and Attr only
	Filter Expr
}

func (*Compare) expr()   {}
func (*Logical) expr()   {}
func (*Not) expr()       {}
func (*ValuePath) expr() {}

// AttrPath is a PATCH path: attr, attr.sub, urn:...:attr[.sub], attr[filter]
// or attr[filter].sub. With a filter, Path.Sub is the part after "]".
type AttrPath struct {
	Path   schema.Path
	Filter Expr // nil without [filter]
}
