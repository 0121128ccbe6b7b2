package auth

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"math/big"
	"regexp"
	"strings"
)

// Token format: TokenPrefix, a body of TokenBodyLength base62 characters
// encoding 256 random bits, and a checksum of TokenChecksumLength base62
// characters: the CRC32 (IEEE) of the body, zero-padded. Like GitHub's tokens,
// the prefix says whose token it is and the checksum lets a secret scanner
// tell a real token from a random string of the same shape offline, so it can
// report leaks without false positives. The checksum adds no secrecy; the 256
// random bits are the secret.
//
// Tokens issued before this format (LegacyTokenPrefix, base64url) keep working:
// the server compares SHA-256 hashes only and never parses a token.
const (
	TokenPrefix         = "scimop_"
	TokenBodyLength     = 43 // 62^43 > 2^256: every 256-bit value fits
	TokenChecksumLength = 6  // 62^6 > 2^32: every CRC32 fits
	// LegacyTokenPrefix started the tokens of earlier releases.
	LegacyTokenPrefix = "scim_"
)

// TokenPattern matches a token of the current format, for secret scanners
// (docs/operations.md). A match whose checksum is wrong is not a token:
// ValidTokenFormat checks both.
const TokenPattern = `scimop_[0-9A-Za-z]{49}`

var tokenRegexp = regexp.MustCompile(`^` + TokenPattern + `$`)

// maxBody is 2^256: the body encodes a value below it.
var maxBody = new(big.Int).Lsh(big.NewInt(1), 256)

// NewToken returns a fresh token of the current format with 256 bits from
// crypto/rand.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	body := base62(new(big.Int).SetBytes(b[:]), TokenBodyLength)
	return TokenPrefix + body + checksum(body), nil
}

// ValidTokenFormat reports why s is not a token of the current format, or
// nil: the prefix, the alphabet and length, a body below 2^256, and the
// checksum. It says nothing about whether any tenant accepts the token.
func ValidTokenFormat(s string) error {
	if !strings.HasPrefix(s, TokenPrefix) {
		return fmt.Errorf("token does not start with %q", TokenPrefix)
	}
	if !tokenRegexp.MatchString(s) {
		return fmt.Errorf("token is not %q followed by %d base62 characters", TokenPrefix, TokenBodyLength+TokenChecksumLength)
	}
	rest := s[len(TokenPrefix):]
	body, sum := rest[:TokenBodyLength], rest[TokenBodyLength:]
	n, ok := new(big.Int).SetString(body, 62)
	if !ok || n.Cmp(maxBody) >= 0 {
		return fmt.Errorf("token body is not a 256-bit base62 number")
	}
	if checksum(body) != sum {
		return fmt.Errorf("token checksum does not match: not a token issued by scim-operator, or mistyped")
	}
	return nil
}

// checksum is the CRC32 of body in base62, zero-padded to TokenChecksumLength.
func checksum(body string) string {
	return base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), TokenChecksumLength)
}

// base62 writes n in base 62 (0-9, a-z, A-Z: math/big's digits) zero-padded to width.
func base62(n *big.Int, width int) string {
	s := n.Text(62)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}
