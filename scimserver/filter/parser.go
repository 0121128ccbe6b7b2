package filter

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Limits on hostile input. Real filters are a few dozen bytes; Entra's
// longest are `emails[type eq "work"].value eq "..."`.
const (
	// MaxLength is the longest filter or path accepted, in bytes.
	MaxLength = 8192
	// MaxDepth bounds nesting of parentheses, not and valuePath brackets.
	MaxDepth = 32
)

var (
	// nameRE is RFC 7643 §2.1 ATTRNAME (plus "$ref", RFC 7644 §3.10).
	nameRE = regexp.MustCompile(`^(\$ref|[A-Za-z][A-Za-z0-9_-]*)$`)
	// numberRE is a JSON number (RFC 8259 §6).
	numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
)

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

type parser struct {
	lex   lexer
	tok   token // current token
	depth int
}

func newParser(s, errType string) (*parser, error) {
	p := &parser{lex: lexer{src: s, errType: errType}}
	if len(s) > MaxLength {
		return nil, scimerr.BadRequest(errType, "%d bytes is longer than the %d bytes allowed", len(s), MaxLength)
	}
	if strings.TrimSpace(s) == "" {
		if errType == scimerr.InvalidPath {
			return nil, scimerr.BadRequest(errType, "empty path")
		}
		return nil, scimerr.BadRequest(errType, "empty filter")
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) errorf(format string, args ...any) error {
	return p.lex.errorf(p.tok.pos, format, args...)
}

func (p *parser) keyword(kw string) bool {
	return p.tok.kind == tWord && strings.EqualFold(p.tok.text, kw)
}

// Parse parses a filter (RFC 7644 §3.4.2.2). Operators and keywords are
// case-insensitive; precedence is not > and > or; unquoted values that are
// not true, false, null or a number are strings (contract §2.5). Errors are
// *scimerr.Error invalidFilter.
func Parse(s string) (Expr, error) {
	p, err := newParser(s, scimerr.InvalidFilter)
	if err != nil {
		return nil, err
	}
	e, err := p.or(false)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errorf("unexpected %s; expected \"and\", \"or\" or the end of the filter", p.tok.describe())
	}
	return e, nil
}

// or := and ("or" and)*; inValue is true inside valuePath brackets, where
// paths are relative and brackets may not nest.
func (p *parser) or(inValue bool) (Expr, error) {
	left, err := p.and(inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.and(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "or", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) and(inValue bool) (Expr, error) {
	left, err := p.unary(inValue)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.unary(inValue)
		if err != nil {
			return nil, err
		}
		left = &Logical{Op: "and", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("filter nested deeper than %d levels", MaxDepth)
	}
	return nil
}

// unary := "not" unary | "(" or ")" | attrExpr | valuePath. RFC 7644 writes
// not as `not (filter)`; `not attrExpr` is accepted too.
func (p *parser) unary(inValue bool) (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	switch {
	case p.keyword("not"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary(inValue)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case p.tok.kind == tLParen:
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.or(inValue)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errorf("expected \")\" to close the \"(\" at offset %d, found %s", open, p.tok.describe())
		}
		return x, p.advance()
	case p.tok.kind == tWord:
		return p.attrExpr(inValue)
	}
	return nil, p.errorf("expected an attribute path, \"not\" or \"(\", found %s", p.tok.describe())
}

// attrExpr := attrPath ("pr" | compareOp value) | attrPath "[" valFilter "]" ["." sub (op value | pr)].
func (p *parser) attrExpr(inValue bool) (Expr, error) {
	pathTok := p.tok
	path, err := p.attrPath(pathTok, inValue)
	if err != nil {
		return nil, err
	}
	if path.Attr == "" {
		return nil, p.errorf("%q names a schema, not an attribute", pathTok.text)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tLBrack {
		if inValue {
			return nil, p.errorf("value filters cannot be nested")
		}
		if path.Sub != "" || path.Attr == "" {
			return nil, p.lex.errorf(pathTok.pos, "a value filter must follow an attribute name, not %q", pathTok.text)
		}
		inner, err := p.bracket()
		if err != nil {
			return nil, err
		}
		vp := &ValuePath{Attr: path, Filter: inner}
		// Entra's `emails[type eq "work"].value eq "x"` (contract §2.5):
		// fold the trailing comparison into the element filter.
		if p.tok.kind == tWord && strings.HasPrefix(p.tok.text, ".") {
			sub := p.tok.text[1:]
			if !nameRE.MatchString(sub) {
				return nil, p.errorf("%q is not a sub-attribute name", sub)
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			cmp, err := p.comparison(schema.Path{Attr: sub})
			if err != nil {
				return nil, err
			}
			vp.Filter = &Logical{Op: "and", Left: inner, Right: cmp}
		}
		return vp, nil
	}
	return p.comparison(path)
}

// bracket parses "[" valFilter "]" with the current token on "[" and leaves
// the token after "]" current.
func (p *parser) bracket() (Expr, error) {
	open := p.tok.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	inner, err := p.or(true)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRBrack {
		return nil, p.errorf("expected \"]\" to close the \"[\" at offset %d, found %s", open, p.tok.describe())
	}
	return inner, p.advance()
}

// comparison parses `op value` or `pr` after path.
func (p *parser) comparison(path schema.Path) (Expr, error) {
	if p.tok.kind != tWord {
		return nil, p.errorf("expected an operator (eq ne co sw ew gt ge lt le pr) after %q, found %s", path.String(), p.tok.describe())
	}
	op := strings.ToLower(p.tok.text)
	if op == "pr" {
		return &Compare{Path: path, Op: "pr"}, p.advance()
	}
	if !compareOps[op] {
		return nil, p.errorf("unknown operator %q after %q; expected eq ne co sw ew gt ge lt le pr", p.tok.text, path.String())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var v any
	switch p.tok.kind {
	case tString:
		v = p.tok.text
	case tWord:
		switch w := p.tok.text; {
		case strings.EqualFold(w, "true"):
			v = true
		case strings.EqualFold(w, "false"):
			v = false
		case strings.EqualFold(w, "null"):
			v = nil
		case numberRE.MatchString(w):
			v = json.Number(w)
		default:
			v = w // unquoted value: a string (contract §2.5)
		}
	default:
		return nil, p.errorf("expected a value after %q, found %s", op, p.tok.describe())
	}
	return &Compare{Path: path, Op: op, Value: v}, p.advance()
}

// attrPath validates a word as an attribute path: [urn:...:]attr[.sub], or
// inside a value filter a bare sub-attribute name.
func (p *parser) attrPath(t token, inValue bool) (schema.Path, error) {
	path := schema.SplitPath(t.text)
	if inValue && (path.URN != "" || path.Sub != "") {
		return path, p.lex.errorf(t.pos, "inside [...] name a sub-attribute of the enclosing attribute, not %q", t.text)
	}
	if path.URN != "" && path.Attr == "" {
		if strings.HasSuffix(t.text, ":") {
			// "urn:...:User:" is not the bare URN: it promises an attribute
			// and names none. Ignoring it would answer 200 and change nothing.
			return path, p.lex.errorf(t.pos, "%q names no attribute after the schema URN; write it as %s<attribute>", t.text, t.text)
		}
		return path, nil // a bare schema URN; only meaningful as a PATCH path
	}
	if !nameRE.MatchString(path.Attr) {
		return path, p.lex.errorf(t.pos, "%q is not an attribute path (expected name, name.sub or urn:...:name)", t.text)
	}
	if path.Sub != "" && !nameRE.MatchString(path.Sub) {
		return path, p.lex.errorf(t.pos, "%q is not an attribute path: bad sub-attribute %q", t.text, path.Sub)
	}
	return path, nil
}

// ParsePath parses a PATCH path (RFC 7644 §3.5.2): attr, attr.sub,
// urn:...:attr[.sub], a bare schema URN, attr[filter] or attr[filter].sub.
// Errors are *scimerr.Error invalidPath.
func ParsePath(s string) (AttrPath, error) {
	p, err := newParser(s, scimerr.InvalidPath)
	if err != nil {
		return AttrPath{}, err
	}
	if p.tok.kind != tWord {
		return AttrPath{}, p.errorf("expected an attribute name, found %s", p.tok.describe())
	}
	pathTok := p.tok
	path, err := p.attrPath(pathTok, false)
	if err != nil {
		return AttrPath{}, err
	}
	if err := p.advance(); err != nil {
		return AttrPath{}, err
	}
	out := AttrPath{Path: path}
	if p.tok.kind == tLBrack {
		if path.Sub != "" || path.Attr == "" {
			return AttrPath{}, p.lex.errorf(pathTok.pos, "a value filter must follow an attribute name, not %q", pathTok.text)
		}
		if out.Filter, err = p.bracket(); err != nil {
			return AttrPath{}, err
		}
		if p.tok.kind == tWord && strings.HasPrefix(p.tok.text, ".") {
			sub := p.tok.text[1:]
			if !nameRE.MatchString(sub) {
				return AttrPath{}, p.errorf("%q is not a sub-attribute name", sub)
			}
			out.Path.Sub = sub
			if err := p.advance(); err != nil {
				return AttrPath{}, err
			}
		}
	}
	if p.tok.kind != tEOF {
		return AttrPath{}, p.errorf("unexpected %s after the path", p.tok.describe())
	}
	return out, nil
}
