package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// readBody checks the request's media type and reads the (size-limited)
// body. Entra sends application/scim+json; charset=utf-8; plain JSON and an
// untyped body are accepted too.
func readBody(r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/scim+json" && mt != "application/json") {
			return nil, scimerr.New(http.StatusUnsupportedMediaType, "",
				"unsupported Content-Type %q; send application/scim+json or application/json", ct)
		}
		if cs, ok := params["charset"]; ok && !equalFoldASCII(cs, "utf-8") && !equalFoldASCII(cs, "utf8") {
			return nil, scimerr.New(http.StatusUnsupportedMediaType, "", "unsupported charset %q; send UTF-8", cs)
		}
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, scimerr.New(http.StatusRequestEntityTooLarge, "",
				"the request body exceeds %d bytes", mbe.Limit)
		}
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "reading the request body: %v", err)
	}
	return raw, nil
}

func equalFoldASCII(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// decodeObject decodes a JSON object body with numbers kept exact.
func decodeObject(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body has data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body has data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body must be a JSON object, got %s", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// readObject is readBody followed by decodeObject.
func readObject(r *http.Request) (map[string]any, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return decodeObject(raw)
}
