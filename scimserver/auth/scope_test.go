package auth

import (
	"strings"
	"testing"
)

// The token file carries the operator's status-scope token next to Entra's:
// the scope must parse, and must not grant SCIM access.
func TestTokenFileScopes(t *testing.T) {
	hash := Hash("scim_x")
	cases := []struct {
		scopes  string
		wantErr string
	}{
		{`["read","write"]`, ""},
		{`["status"]`, ""},
		{`["read","status"]`, ""},
		{`["admin"]`, `unknown scope "admin"`},
	}
	for _, tc := range cases {
		f, err := ParseTokenFile([]byte(`{"tokens":[{"name":"scim-operator","sha256":"` + hash + `","scopes":` + tc.scopes + `}]}`))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("scopes %s: error %v, want %q", tc.scopes, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("scopes %s: %v", tc.scopes, err)
		}
		if tc.scopes == `["status"]` && (f.Tokens[0].Allows(ScopeRead) || f.Tokens[0].Allows(ScopeWrite) || !f.Tokens[0].Allows(ScopeStatus)) {
			t.Errorf("a status token must allow status only: %+v", f.Tokens[0])
		}
	}
}
