package server

import (
	"net/http"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// etagMatches reports whether a precondition header (a list of entity tags
// or "*") names the version. Comparison is weak (RFC 9110 §8.8.3.2): W/ is
// ignored, so a client may echo the tag with or without it.
func etagMatches(header string, version int64) bool {
	want := strings.TrimPrefix(etag(version), "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// checkIfMatch enforces If-Match when the client sent one; it is never
// required (Entra sends none).
func checkIfMatch(header string, version int64) error {
	if header == "" || etagMatches(header, version) {
		return nil
	}
	return scimerr.New(http.StatusPreconditionFailed, "",
		"If-Match %s does not match the current version %s; re-read the resource and retry", header, etag(version))
}
