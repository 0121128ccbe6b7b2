// Package auth authenticates SCIM requests with bearer tokens.
//
// The accepted tokens come from a token file that the operator writes into a
// Secret mounted into the server's pod. The file never holds a plaintext token:
// each entry carries the SHA-256 of one token, so a leaked file (or a leaked
// volume snapshot) cannot be replayed against the server.
//
// Token file format (JSON, key tokens.json in the tenant's token Secret):
//
//	{
//	  "tokens": [
//	    {
//	      "name": "entra",                      // ScimToken name, for audit logs
//	      "revision": 3,                        // rotation revision of that ScimToken
//	      "sha256": "9f86d0...",                // hex SHA-256 of the token's bytes
//	      "notAfter": "2026-12-01T00:00:00Z",   // optional: refused from this instant on
//	      "scopes": ["read", "write"],          // read: GET and .search; write: everything else; status: GET /v1/status and /v1/webhooks only (the operator's token); activity: GET /v1/activity only
//	      "rateLimit": {"requestsPerSecond": 5, "burst": 10} // optional: this token's bucket
//	    }
//	  ]
//	}
package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/config"
)

// TokenFileName is the key of the token file in the tenant's token Secret.
const TokenFileName = "tokens.json"

// Scopes a token may carry.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	// ScopeStatus reads the server's status documents for the operator
	// (GET /v1/status: dropped attributes; GET /v1/webhooks: webhook
	// delivery status) and nothing else. The operator's own per-tenant
	// token carries it; the tokens issued for Entra (read, write) do not.
	ScopeStatus = "status"
	// ScopeActivity reads the redacted request history (GET /v1/activity)
	// and nothing else: a token for people and tools (kubectl scim
	// activity), never Entra's.
	ScopeActivity = "activity"
)

// TokenFile is the decoded token file.
type TokenFile struct {
	Tokens []TokenEntry `json:"tokens"`
}

// TokenEntry is one accepted token.
type TokenEntry struct {
	Name     string     `json:"name,omitempty"`
	Revision int64      `json:"revision,omitempty"`
	SHA256   string     `json:"sha256"`
	NotAfter *time.Time `json:"notAfter,omitempty"`
	Scopes   []string   `json:"scopes"`
	// RateLimit is the token's own bucket; nil means a bucket of the
	// tenant's limit. Buckets are per token name, so a rotated token's
	// current and previous entries share one.
	RateLimit *config.RateLimit `json:"rateLimit,omitempty"`
}

// Allows reports whether the entry carries scope.
func (e TokenEntry) Allows(scope string) bool { return slices.Contains(e.Scopes, scope) }

// Hash is the hex SHA-256 of a token, as stored in the token file.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// FingerprintLength is how many hex characters of the hash a fingerprint keeps:
// enough to tell tokens apart in logs and status, far too few to help guess one.
const FingerprintLength = 12

// Fingerprint is the short, safe-to-show identity of a token: the first
// FingerprintLength hex characters of its SHA-256.
func Fingerprint(token string) string { return FingerprintOfHash(Hash(token)) }

// FingerprintOfHash shortens a hex SHA-256 to a fingerprint.
func FingerprintOfHash(hash string) string {
	if len(hash) < FingerprintLength {
		return hash
	}
	return hash[:FingerprintLength]
}

// ParseTokenFile decodes and validates a token file.
func ParseTokenFile(raw []byte) (*TokenFile, error) {
	var f TokenFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("decoding token file: %w", err)
	}
	for i, e := range f.Tokens {
		if len(e.SHA256) != sha256.Size*2 || strings.Trim(strings.ToLower(e.SHA256), "0123456789abcdef") != "" {
			return nil, fmt.Errorf("token file entry %d (%s): sha256 must be 64 hex characters", i, e.Name)
		}
		for _, s := range e.Scopes {
			if s != ScopeRead && s != ScopeWrite && s != ScopeStatus && s != ScopeActivity {
				return nil, fmt.Errorf("token file entry %d (%s): unknown scope %q", i, e.Name, s)
			}
		}
		if rl := e.RateLimit; rl != nil && (rl.RequestsPerSecond < 1 || rl.Burst < 0) {
			return nil, fmt.Errorf("token file entry %d (%s): rateLimit needs requestsPerSecond >= 1 and burst >= 0, got %d and %d",
				i, e.Name, rl.RequestsPerSecond, rl.Burst)
		}
	}
	return &f, nil
}

// Marshal encodes a token file deterministically (entries in the given order).
func (f *TokenFile) Marshal() ([]byte, error) {
	if f.Tokens == nil {
		f.Tokens = []TokenEntry{}
	}
	return json.MarshalIndent(f, "", "  ")
}
