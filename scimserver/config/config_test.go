package config

import (
	"strings"
	"testing"
)

func TestParseUnknownAttributes(t *testing.T) {
	cases := []struct {
		raw     string
		reject  bool
		wantErr string
	}{
		{`{}`, false, ""},
		{`{"unknownAttributes": "Ignore"}`, false, ""},
		{`{"unknownAttributes": "Reject"}`, true, ""},
		{`{"unknownAttributes": "reject"}`, false, `unknownAttributes "reject" must be "Ignore" or "Reject"`},
	}
	for _, tc := range cases {
		c, err := Parse([]byte(tc.raw))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.RejectsUnknown() != tc.reject {
			t.Errorf("%s: %v, RejectsUnknown %v, want %v", tc.raw, err, c != nil && c.RejectsUnknown(), tc.reject)
		}
	}
}
