package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestRunRefuses checks the arguments the peer refuses before it listens:
// it has no durability and no rate limit, so it stays on loopback.
func TestRunRefuses(t *testing.T) {
	sum := sha256.Sum256([]byte(testToken))
	good := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		addr, hash, want string
	}{
		{"127.0.0.1:0", "", "64 hex digits"},
		{"127.0.0.1:0", good[:62], "64 hex digits"},
		{"127.0.0.1:0", "zz" + good[2:], "64 hex digits"},
		{"0.0.0.0:0", good, "only loopback"},
		{"192.0.2.1:0", good, "only loopback"},
		{"localhost", good, "only loopback"},
	} {
		err := run(tc.addr, tc.hash)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q, %q) = %v, want an error containing %q", tc.addr, tc.hash, err, tc.want)
		}
	}
}
