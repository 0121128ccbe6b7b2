package server

import (
	"strings"

	"github.com/munnerz/goautoneg"
)

// jsonType is the other response type a client may ask for with Accept.
const jsonType = "application/json"

// responseType picks the response media type from an Accept header (RFC 7644
// §3.8, RFC 9110 §12.5.1): application/scim+json or application/json,
// whichever the client accepts with the higher q-value, each judged by the
// most specific range that matches it (exact, then application/*, then
// */*). Ties, wildcards, an absent header and a header accepting neither
// give application/scim+json: Entra and the SCIM Validator need it and a
// client that cannot read it would not be a SCIM client, so refusing with
// 406 would help nobody. OneLogin's client asks for application/json.
func responseType(accept string) string {
	if accept == "" {
		return ContentType
	}
	scimQ, jsonQ := -1.0, -1.0
	scimRank, jsonRank := 0, 0
	// goautoneg parses the ranges and their parameters; media types are
	// case-insensitive, so the header is lower-cased first.
	for _, c := range goautoneg.ParseAccept(strings.ToLower(accept)) {
		for _, t := range []struct {
			subtype string
			q       *float64
			rank    *int
		}{{"scim+json", &scimQ, &scimRank}, {"json", &jsonQ, &jsonRank}} {
			rank := 0
			switch {
			case c.Type == "application" && c.SubType == t.subtype:
				rank = 3
			case c.Type == "application" && c.SubType == "*":
				rank = 2
			case c.Type == "*" && c.SubType == "*":
				rank = 1
			}
			if rank > *t.rank {
				*t.rank, *t.q = rank, c.Q
			}
		}
	}
	if jsonQ > 0 && jsonQ > scimQ {
		return jsonType
	}
	return ContentType
}
