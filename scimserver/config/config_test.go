package config

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEventRetention(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Duration
		err  string
	}{
		{`{}`, DefaultEventRetention, ""},
		{`{"events":{}}`, DefaultEventRetention, ""},
		{`{"events":{"retention":"720h"}}`, 720 * time.Hour, ""},
		{`{"events":{"retention":"720h0m0s"}}`, 720 * time.Hour, ""}, // as metav1.Duration renders it
		{`{"events":{"retention":"1h"}}`, time.Hour, ""},
		{`{"events":{"retention":"30m"}}`, 0, "events.retention 30m0s is too short"},
		{`{"events":{"retention":"30d"}}`, 0, `duration "30d"`},
		{`{"events":{"retention":720}}`, 0, "a duration must be a string"},
		{`{"events":{"keep":"1h"}}`, 0, "unknown field"},
	}
	for _, tc := range tests {
		cfg, err := Parse([]byte(tc.raw))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if got := cfg.EventRetention(); got != tc.want {
			t.Errorf("%s: retention %s, want %s", tc.raw, got, tc.want)
		}
	}
}

// The operator writes what the server reads: a round trip keeps the value.
func TestEventRetentionRoundTrip(t *testing.T) {
	in := Default()
	in.Events.Retention = Duration(48 * time.Hour)
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"events":{"retention":"48h0m0s"}`) {
		t.Fatalf("rendered %s", raw)
	}
	out, err := Parse(raw)
	if err != nil || out.EventRetention() != 48*time.Hour {
		t.Fatalf("parsed %v %v", out, err)
	}
	if raw, _ := json.Marshal(Default()); strings.Contains(string(raw), "events") {
		t.Fatalf("a default config renders events: %s", raw)
	}
}

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
