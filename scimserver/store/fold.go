package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold returns a key that is equal for two strings exactly when
// strings.EqualFold says they are equal: every rune is replaced by the
// smallest rune of its simple case-folding orbit (ASCII letters: the
// lower-case one). SQLite's lower() only folds
// ASCII, so the key is computed here and stored in an indexed column.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii {
		return s // already folded; the common case costs no allocation
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune is the smallest rune r folds to under unicode.SimpleFold.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	// Orbits reaching ASCII (K, k and the Kelvin sign; S, s and long s)
	// must land where the ASCII fast path does: on the lower-case letter.
	if 'A' <= min && min <= 'Z' {
		return min + 'a' - 'A'
	}
	return min
}
