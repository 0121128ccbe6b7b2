package webhookconfig

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// secret of n bytes (all 0x42), valid when 24 <= n <= 64.
func secret(n int) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("B", n)))
}

var s32 = secret(32)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    *File
		wantErr string // substring; empty = success
	}{
		{
			name: "full entry as documented",
			raw: `{"webhooks":[{"name":"crm-sync","url":"https://crm.example.com/hooks/scim",
				"eventTypes":["user.created","user.deleted"],"paused":false,"secrets":["` + s32 + `","` + secret(24) + `"],
				"maxRetryDuration":"72h","timeout":"10s","maxBatch":1,"resume":"1732700000"}],"allowPrivateNetworks":false}`,
			want: &File{Webhooks: []Webhook{{
				Name: "crm-sync", URL: "https://crm.example.com/hooks/scim",
				EventTypes: []string{"user.created", "user.deleted"}, Secrets: []string{s32, secret(24)},
				MaxRetryDuration: Duration(72 * time.Hour), Timeout: Duration(10 * time.Second), MaxBatch: 1, Resume: "1732700000",
			}}},
		},
		{
			name: "defaults filled",
			raw:  `{"webhooks":[{"name":"a","url":"http://mirror.apps.svc:8080/hook","secrets":["` + s32 + `"]}],"allowPrivateNetworks":true}`,
			want: &File{AllowPrivateNetworks: true, Webhooks: []Webhook{{
				Name: "a", URL: "http://mirror.apps.svc:8080/hook", Secrets: []string{s32},
				MaxRetryDuration: Duration(DefaultMaxRetryDuration), Timeout: Duration(DefaultTimeout), MaxBatch: DefaultMaxBatch,
			}}},
		},
		{name: "empty file", raw: `{}`, want: &File{}},
		{name: "not json", raw: `webhooks:`, wantErr: "decoding webhook file"},
		{name: "bad duration", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"],"timeout":"10 parsecs"}]}`, wantErr: "duration"},
		{name: "numeric duration", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"],"timeout":10}]}`, wantErr: "must be a string"},
		{name: "no name", raw: `{"webhooks":[{"url":"https://x","secrets":["` + s32 + `"]}]}`, wantErr: "name is empty"},
		{name: "duplicate name", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"]},{"name":"a","url":"https://y","secrets":["` + s32 + `"]}]}`, wantErr: "used by an earlier"},
		{name: "ftp url", raw: `{"webhooks":[{"name":"a","url":"ftp://x/y","secrets":["` + s32 + `"]}]}`, wantErr: "scheme must be https or http"},
		{name: "relative url", raw: `{"webhooks":[{"name":"a","url":"/hook","secrets":["` + s32 + `"]}]}`, wantErr: "scheme"},
		{name: "url with credentials", raw: `{"webhooks":[{"name":"a","url":"https://u:p@x/","secrets":["` + s32 + `"]}]}`, wantErr: "user information"},
		{name: "unknown event type", raw: `{"webhooks":[{"name":"a","url":"https://x","eventTypes":["user.exploded"],"secrets":["` + s32 + `"]}]}`, wantErr: `unknown event type "user.exploded"`},
		{name: "no secret", raw: `{"webhooks":[{"name":"a","url":"https://x"}]}`, wantErr: "no signing secret"},
		{name: "secret without prefix", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + strings.TrimPrefix(s32, SecretPrefix) + `"]}]}`, wantErr: "must start with"},
		{name: "secret too short", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + secret(16) + `"]}]}`, wantErr: "has 16 bytes"},
		{name: "secret too long", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + secret(65) + `"]}]}`, wantErr: "has 65 bytes"},
		{name: "secret not base64", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["whsec_!!!!"]}]}`, wantErr: "not standard base64"},
		{name: "negative retry", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"],"maxRetryDuration":"-1h"}]}`, wantErr: "maxRetryDuration must be positive"},
		{name: "timeout too long", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"],"timeout":"1h"}]}`, wantErr: "timeout must be positive and at most 5m0s"},
		{name: "batch too big", raw: `{"webhooks":[{"name":"a","url":"https://x","secrets":["` + s32 + `"],"maxBatch":5000}]}`, wantErr: "maxBatch must be between 1 and 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestValidateErrorsNeverContainSecrets(t *testing.T) {
	for _, s := range []string{secret(16), "whsec_" + strings.Repeat("!", 40), strings.TrimPrefix(s32, SecretPrefix)} {
		f := &File{Webhooks: []Webhook{{Name: "a", URL: "https://x", Secrets: []string{s}}}}
		f.Default()
		err := f.Validate()
		if err == nil {
			t.Fatalf("secret %d chars accepted", len(s))
		}
		if strings.Contains(err.Error(), strings.TrimPrefix(s, SecretPrefix)) {
			t.Fatalf("error %q contains the secret", err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	key, err := DecodeSecret(a)
	if err != nil {
		t.Fatalf("DecodeSecret(NewSecret()): %v", err)
	}
	if len(key) != DefaultSecretBytes {
		t.Fatalf("key has %d bytes, want %d", len(key), DefaultSecretBytes)
	}
}

func TestWants(t *testing.T) {
	all := Webhook{}
	some := Webhook{EventTypes: []string{"user.deleted"}}
	if !all.Wants("group.created") || !some.Wants("user.deleted") || some.Wants("user.created") {
		t.Fatal("Wants: empty list must mean all, a list only its types")
	}
}

func TestLoadFollowsFileChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	write := func(f *File) {
		raw, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(&File{Webhooks: []Webhook{{Name: "a", URL: "https://x", Secrets: []string{s32}}}})
	f, err := Load(path)
	if err != nil || len(f.Webhooks) != 1 || f.Webhooks[0].Timeout.D() != DefaultTimeout {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	write(&File{})
	if f, err = Load(path); err != nil || len(f.Webhooks) != 0 {
		t.Fatalf("Load after change = %+v, %v", f, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestMarshalEmptyIsAList(t *testing.T) {
	raw, err := (&File{}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"webhooks": []`) {
		t.Fatalf("Marshal = %s, want an empty webhooks list", raw)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts survives a
// Marshal/Parse round trip unchanged (the operator writes what delivery reads).
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{}`,
		`{"webhooks":[]}`,
		`{"webhooks":[{"name":"crm-sync","url":"https://crm.example.com/hooks/scim","eventTypes":["user.created","user.deleted"],"paused":false,"secrets":["` + s32 + `","` + secret(64) + `"],"maxRetryDuration":"72h","timeout":"10s","maxBatch":1,"resume":"1732700000"}],"allowPrivateNetworks":false}`,
		`{"webhooks":[{"name":"a","url":"http://127.0.0.1:8490/webhook","secrets":["` + s32 + `"],"maxBatch":50,"paused":true}],"allowPrivateNetworks":true}`,
		`{"webhooks":[{"name":"a","url":"https://x","secrets":["whsec_"],"timeout":"1ns"}]}`,
		`{"webhooks":[{"name":"","url":"://","secrets":[],"maxRetryDuration":"-5m","maxBatch":-1}]}`,
		`{"webhooks":null,"allowPrivateNetworks":"yes"}`,
		`[`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := Parse(raw)
		if err != nil {
			return
		}
		out, err := got.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed file: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-Parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", got, again)
		}
	})
}
