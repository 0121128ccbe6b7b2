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
