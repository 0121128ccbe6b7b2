package store

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// Text is a condition on a stored document's JSON text that every match of
// a query satisfies. List tests it on each candidate's raw text before
// decoding it, so a scan decodes only documents that may match: a filter
// such as `title co "nobody"` over 100,000 users then costs a substring
// search per row instead of a JSON decode per row.
//
// A nil *Text is no condition. Build one with Contains, AllOf and AnyOf.
type Text struct {
	contains string // leaf: some text of the document contains this
	fold     bool   // leaf: compare case-insensitively
	all, any []*Text
}

// Contains holds when the document's text contains s; with fold,
// case-insensitively in the sense of both strings.EqualFold and
// strings.ToLower, so it is implied by either comparison of a string value
// with s. It returns nil (no condition) for "" and for invalid UTF-8.
func Contains(s string, fold bool) *Text {
	if s == "" || !utf8.ValidString(s) {
		return nil
	}
	return &Text{contains: s, fold: fold}
}

// AllOf holds when every t holds; nil conditions are dropped.
func AllOf(ts ...*Text) *Text {
	var keep []*Text
	for _, t := range ts {
		if t != nil {
			keep = append(keep, t)
		}
	}
	switch len(keep) {
	case 0:
		return nil
	case 1:
		return keep[0]
	}
	return &Text{all: keep}
}

// AnyOf holds when some t holds; one nil condition (or none given) makes
// it nil.
func AnyOf(ts ...*Text) *Text {
	for _, t := range ts {
		if t == nil {
			return nil
		}
	}
	switch len(ts) {
	case 0:
		return nil
	case 1:
		return ts[0]
	}
	return &Text{any: ts}
}

// textDoc is one candidate's raw JSON, folded on first use.
type textDoc struct {
	raw, folded []byte
	isFolded    bool
}

func (d *textDoc) reset(raw []byte) { d.raw, d.folded, d.isFolded = raw, d.folded[:0], false }

func (d *textDoc) fold() []byte {
	if !d.isFolded {
		d.folded, d.isFolded = appendTextKey(d.folded[:0], d.raw), true
	}
	return d.folded
}

// compile turns t into a test on raw document text; nil for no condition.
// The returned function reuses a buffer: one List call uses it at a time.
func (t *Text) compile() func(raw []byte) bool {
	if t == nil {
		return nil
	}
	test := t.test()
	d := &textDoc{}
	return func(raw []byte) bool {
		d.reset(raw)
		return test(d)
	}
}

func (t *Text) test() func(*textDoc) bool {
	switch {
	case t.all != nil:
		return combine(t.all, false) // false as soon as one is false
	case t.any != nil:
		return combine(t.any, true) // true as soon as one is true
	}
	// The needle is the value as the store encodes documents (Create and
	// Update use json.Marshal), so an escaped character such as < (stored
	// as \u003c) is searched for in its stored form.
	enc, _ := json.Marshal(t.contains)
	needle := enc[1 : len(enc)-1]
	if t.fold {
		needle = appendTextKey(nil, needle)
		return func(d *textDoc) bool { return bytes.Contains(d.fold(), needle) }
	}
	return func(d *textDoc) bool { return bytes.Contains(d.raw, needle) }
}

// appendTextKey appends src with every rune replaced by textKey.
func appendTextKey(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		dst = utf8.AppendRune(dst, textKey(r))
		i += n
	}
	return dst
}

// textKey maps runes that strings.EqualFold treats as equal, and runes
// strings.ToLower maps to the same rune, to one key (text_test.go checks
// every rune). JSON escapes only runes without case, which map to
// themselves, so folding the stored text equals storing the folded text.
func textKey(r rune) rune {
	return foldRune(unicode.ToLower(r))
}

// combine tests ts in order and answers decisive as soon as one test does,
// else the opposite.
func combine(ts []*Text, decisive bool) func(*textDoc) bool {
	tests := make([]func(*textDoc) bool, len(ts))
	for i, c := range ts {
		tests[i] = c.test()
	}
	return func(d *textDoc) bool {
		for _, f := range tests {
			if f(d) == decisive {
				return decisive
			}
		}
		return !decisive
	}
}
