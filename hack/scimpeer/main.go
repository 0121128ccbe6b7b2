// Command scimpeer is the in-memory peer of issue #13: a SCIM 2.0 server
// built on github.com/elimity-com/scim, the most used Go SCIM library,
// serving Users and Groups from maps the way the library's own example
// resource handler does. It keeps nothing on disk, so it is what a server
// costs without durability; cmd/scimload --baseline --peer measures its CPU
// per request beside ours and beside the canned-response server.
//
//	go build -C hack/scimpeer -o /tmp/scimpeer . &&
//	/tmp/scimpeer --listen-address 127.0.0.1:8099 --token-sha256 $(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
//
// The tenant is served under /scim/v2 like ours, behind the same bearer
// check (the token's SHA-256 compared in constant time); /readyz answers
// 200 once it listens. It is a module of its own so that the operator's
// go.mod never carries the peer's library.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("listen-address", "127.0.0.1:8099", "loopback address to listen on")
	hash := flag.String("token-sha256", os.Getenv("SCIMPEER_TOKEN_SHA256"), "hex SHA-256 of the bearer token (env SCIMPEER_TOKEN_SHA256)")
	flag.Parse()
	if err := run(*addr, *hash); err != nil {
		fmt.Fprintln(os.Stderr, "scimpeer:", err)
		os.Exit(1)
	}
}

func run(addr, hash string) error {
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != sha256.Size {
		return errors.New("--token-sha256: want 64 hex digits")
	}
	// A peer with no durability and no rate limit has no business on a
	// routable address.
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen-address %q: only loopback addresses are allowed", addr)
	}
	h, err := newHandler([sha256.Size]byte(raw))
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
