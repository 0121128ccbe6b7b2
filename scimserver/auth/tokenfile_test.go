package auth

import (
	"strings"
	"testing"
)

// The status scope (the operator's token for GET /v1/status) is a scope of
// its own: it grants neither read nor write.
func TestParseTokenFileStatusScope(t *testing.T) {
	hash := strings.Repeat("a", 64)
	for _, tc := range []struct {
		scopes  string
		wantErr string
	}{
		{`["status"]`, ""},
		{`["read","write","status"]`, ""},
		{`["Status"]`, `unknown scope "Status"`},
	} {
		f, err := ParseTokenFile([]byte(`{"tokens":[{"name":"operator","sha256":"` + hash + `","scopes":` + tc.scopes + `}]}`))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.scopes, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.scopes, err)
		}
		if e := f.Tokens[0]; !e.Allows(ScopeStatus) || (tc.scopes == `["status"]` && (e.Allows(ScopeRead) || e.Allows(ScopeWrite))) {
			t.Errorf("%s: scopes %v", tc.scopes, e.Scopes)
		}
	}
}
