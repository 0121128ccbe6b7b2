package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// FuzzCheckText: a body checkText accepts decodes without any character
// being replaced by U+FFFD, unless the client sent U+FFFD itself.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{
		`{"userName":"bad` + "\xff\xfe" + `@x"}`,
		`{"userName":"bad\ud800@x"}`,
		`{"userName":"ok\ud83d\ude00"}`,
		`{"userName":"a\\ud800"}`,
		`{"userName":"\ud83d\u0041"}`,
		`{"a":"\uDC00\uD800"}`,
		`{"a":"\u12"}`,
		`{"a":"r` + "\uFFFD" + `"}`,
		`"\`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := checkText(raw); err != nil {
			if e, ok := scimerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("checkText(%q): %v is not a 400 *scimerr.Error", raw, err)
			}
			return
		}
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		if bytes.Contains(raw, []byte("\uFFFD")) || strings.Contains(strings.ToLower(string(raw)), `\ufffd`) {
			return
		}
		out, _ := json.Marshal(v)
		if bytes.Contains(out, []byte("\uFFFD")) || bytes.Contains(out, []byte(`\ufffd`)) {
			t.Fatalf("checkText accepted %q, which decodes with a replacement character: %s", raw, out)
		}
	})
}

// BenchmarkCheckText measures the UTF-8 and surrogate check on a big group
// PATCH body (the largest bodies Entra sends), to compare with decoding it.
func BenchmarkCheckText(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[`)
	for i := range 20000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"value":"9f0c6f3e-5b8a-4a55-8d55-1c2b3d4e5f60","display":"Zoë \u00e9\u00e8"}`)
	}
	sb.WriteString(`]}]}`)
	raw := []byte(sb.String())
	b.Run("checkText", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if err := checkText(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
