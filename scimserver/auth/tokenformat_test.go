package auth

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	scanner := regexp.MustCompile(`\b` + TokenPattern + `\b`)
	for range 200 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidTokenFormat(tok); err != nil {
			t.Fatalf("NewToken() = %q, which ValidTokenFormat refuses: %v", tok, err)
		}
		if len(tok) != len(TokenPrefix)+TokenBodyLength+TokenChecksumLength {
			t.Fatalf("NewToken() = %q: length %d", tok, len(tok))
		}
		// A scanner finds it inside text, as it would in a leaked log line.
		if got := scanner.FindString("Authorization: Bearer " + tok + "\n"); got != tok {
			t.Fatalf("scanner regexp found %q in a log line holding %q", got, tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken repeated %q", tok)
		}
		seen[tok] = true
	}
}

// A real token of the current format (generated once by NewToken).
const sampleToken = "scimop_AMgI8Jls82SxEsuh30Vi7CHgV6bZfJbMuVHoh6h2efE0x5zgJ"

func TestValidTokenFormat(t *testing.T) {
	body := sampleToken[len(TokenPrefix) : len(TokenPrefix)+TokenBodyLength]
	// The largest body (2^256-1) and the smallest (0) are tokens too.
	maxBodyText := base62(new(big.Int).Sub(maxBody, big.NewInt(1)), TokenBodyLength)
	zeros := strings.Repeat("0", TokenBodyLength)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name, token string
		valid       bool
	}{
		{"issued token", sampleToken, true},
		{"zero body", TokenPrefix + zeros + checksum(zeros), true},
		{"largest body", TokenPrefix + maxBodyText + checksum(maxBodyText), true},
		{"legacy scim_ token", "scim_" + strings.Repeat("A", 43), false},
		{"empty", "", false},
		{"prefix only", TokenPrefix, false},
		{"upper-case prefix", "SCIMOP_" + sampleToken[len(TokenPrefix):], false},
		{"one body character changed", flip(sampleToken, len(TokenPrefix)+5), false},
		{"checksum changed", flip(sampleToken, len(sampleToken)-1), false},
		{"one character short", sampleToken[:len(sampleToken)-1], false},
		{"one character long", sampleToken + "0", false},
		{"trailing newline", sampleToken + "\n", false},
		{"base64url character", TokenPrefix + "-" + body[1:] + checksum("-"+body[1:]), false},
		{"body 2^256 (one past the largest)", TokenPrefix + overflowBody + checksum(overflowBody), false},
		{"random string of the right shape", TokenPrefix + strings.Repeat("x", TokenBodyLength+TokenChecksumLength), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidTokenFormat(tt.token)
			if (err == nil) != tt.valid {
				t.Errorf("ValidTokenFormat(%q) = %v, want valid=%v", tt.token, err, tt.valid)
			}
		})
	}
}

// overflowBody is 2^256 in base62: 43 characters, one past the largest body.
var overflowBody = base62(maxBody, TokenBodyLength)

// FuzzValidTokenFormat: the checker never panics, accepts only strings of the
// documented shape, and accepts nothing a one-character change turns a token into.
func FuzzValidTokenFormat(f *testing.F) {
	f.Add(sampleToken)
	f.Add("scim_" + strings.Repeat("A", 43))
	f.Add(TokenPrefix + overflowBody + checksum(overflowBody))
	f.Add(TokenPrefix + "+" + strings.Repeat("0", TokenBodyLength+TokenChecksumLength-1))
	f.Add("")
	shape := regexp.MustCompile(`^` + TokenPattern + `$`)
	f.Fuzz(func(t *testing.T, s string) {
		if ValidTokenFormat(s) != nil {
			return
		}
		if !shape.MatchString(s) {
			t.Fatalf("ValidTokenFormat accepted %q, which does not match %s", s, TokenPattern)
		}
		rest := s[len(TokenPrefix):]
		if checksum(rest[:TokenBodyLength]) != rest[TokenBodyLength:] {
			t.Fatalf("ValidTokenFormat accepted %q with a wrong checksum", s)
		}
	})
}

// Tokens issued before the current format keep authenticating: the keyring
// compares SHA-256 hashes and never checks a token's format.
func TestLegacyAndCurrentTokensAuthenticate(t *testing.T) {
	legacy := LegacyTokenPrefix + "q8b1h0Zk3vJxU2yR6tWcPp9sLmNaEoF4gIiKjDdYrXw"
	current, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewStaticKeyring(&TokenFile{Tokens: []TokenEntry{
		{Name: "old", SHA256: Hash(legacy), Scopes: []string{ScopeRead}},
		{Name: "new", SHA256: Hash(current), Scopes: []string{ScopeRead}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"old": legacy, "new": current} {
		e, err := k.Authenticate("Bearer "+tok, time.Now())
		if err != nil || e.Name != name {
			t.Errorf("%s token: entry %q, error %v", name, e.Name, err)
		}
	}
}
