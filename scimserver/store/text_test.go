package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The key must not separate what the filter engine compares as equal:
// strings.EqualFold (eq on case-insensitive attributes) and strings.ToLower
// (co, sw, ew). Checked for every rune of the Unicode tables Go ships.
func TestTextKeyCoversEqualFoldAndToLower(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		k := textKey(r)
		if f := unicode.SimpleFold(r); textKey(f) != k {
			t.Fatalf("EqualFold(%q, %q) but keys %q, %q", r, f, k, textKey(f))
		}
		if l := unicode.ToLower(r); textKey(l) != k {
			t.Fatalf("ToLower(%q) = %q but keys %q, %q", r, l, k, textKey(l))
		}
		if k < utf8.RuneSelf && textKey(rune(appendTextKey(nil, []byte(string(r)))[0])) != k {
			t.Fatalf("appendTextKey and textKey disagree on %q", r)
		}
	}
}

// Folding stored JSON text must equal storing folded text: true when the
// runes JSON escapes have no case and no other rune folds onto them.
func TestTextKeyCommutesWithJSONEscaping(t *testing.T) {
	escaped := map[rune]bool{}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		enc, _ := json.Marshal(string(r))
		if string(enc) != `"`+string(r)+`"` {
			escaped[r] = true
		}
	}
	if !escaped['<'] || !escaped['"'] || !escaped['\n'] || escaped['a'] {
		t.Fatalf("unexpected escape set: %d runes", len(escaped))
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		if k := textKey(r); escaped[k] && k != r || escaped[r] && k != r {
			t.Fatalf("rune %q keys to %q, an escaped rune", r, k)
		}
	}
	for _, s := range []string{`a<b>&"\`, "line\nbreak\t", "\u2028x\u2029", "ÄÖÜ<ß>"} {
		enc, _ := json.Marshal(s)
		encFolded, _ := json.Marshal(string(appendTextKey(nil, []byte(s))))
		if got := appendTextKey(nil, enc); string(got) != string(encFolded) {
			t.Errorf("%q: Fold(encode) %s != encode(fold) %s", s, got, encFolded)
		}
	}
}

func TestTextConditions(t *testing.T) {
	doc := func(v any) []byte {
		b, _ := json.Marshal(map[string]any{"title": v, "name": map[string]any{"givenName": "Zoë"}})
		return b
	}
	tests := []struct {
		name string
		text *Text
		doc  []byte
		want bool
	}{
		{"exact hit", Contains("Engineer", false), doc("Senior Engineer"), true},
		{"exact miss by case", Contains("engineer", false), doc("Senior Engineer"), false},
		{"folded hit", Contains("ENGINEER", true), doc("Senior Engineer"), true},
		{"folded non-ASCII", Contains("ZOË", true), doc("x"), true},
		{"Kelvin sign folds to k", Contains("\u212Aelvin", true), doc("kelvin"), true},
		{"long s folds to s", Contains("ſtate", true), doc("State"), true},
		{"escaped character stored escaped", Contains("R<D", false), doc("R<D team"), true},
		{"quote", Contains(`say "hi"`, true), doc(`They say "HI"`), true},
		{"miss", Contains("nobody", true), doc("Engineer"), false},
		{"all", AllOf(Contains("senior", true), Contains("Zoë", false)), doc("Senior"), true},
		{"all misses one", AllOf(Contains("senior", true), Contains("Bob", false)), doc("Senior"), false},
		{"any", AnyOf(Contains("nobody", true), Contains("zoë", true)), doc("x"), true},
		{"any misses all", AnyOf(Contains("nobody", true), Contains("bob", true)), doc("x"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.text.compile()(tc.doc); got != tc.want {
				t.Errorf("got %v, want %v on %s", got, tc.want, tc.doc)
			}
		})
	}
	// No condition: empty or invalid needles, and any "or" with a branch
	// that has no condition.
	for name, text := range map[string]*Text{
		"empty":          Contains("", true),
		"invalid UTF-8":  Contains("\xff", false),
		"all of nothing": AllOf(nil, nil),
		"any with nil":   AnyOf(Contains("x", true), nil),
	} {
		if text != nil || text.compile() != nil {
			t.Errorf("%s: got a condition %+v", name, text)
		}
	}
}

// A List with Text decodes only the rows whose text passes: Match sees no
// other document.
func TestListTextSkipsDecoding(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for i := range 20 {
		r := userRes(uid(i), strings.Repeat("x", i)+"@contoso.com")
		if i%5 == 0 {
			r.Doc["title"] = "Night Owl"
		}
		mustCreate(t, s, r)
	}
	seen := 0
	match := func(r *Resource) bool {
		seen++
		return strings.Contains(strings.ToLower(r.Doc["title"].(string)), "owl")
	}
	p, err := s.List(ctx, User, Query{Match: match, Text: Contains("OWL", true), Count: 2, StartIndex: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 4 || strings.Join(ids(p), ",") != uid(5)+","+uid(10) || seen != 4 {
		t.Errorf("total %d page %v, Match called %d times; want 4, [%s %s], 4", p.Total, ids(p), seen, uid(5), uid(10))
	}
}
