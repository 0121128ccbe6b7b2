package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"unicode/utf8"

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
	raw, err := readAll(r.Body, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, scimerr.New(http.StatusRequestEntityTooLarge, "",
				"the request body exceeds %d bytes", mbe.Limit)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, scimerr.New(http.StatusRequestTimeout, "",
				"the request body did not arrive in time; send it at once (the connection is closed)")
		}
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "reading the request body: %v", err)
	}
	if err := checkText(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// presizeLimit bounds the buffer a declared Content-Length reserves before
// any byte arrives: a client must not make the server allocate a large
// buffer by declaring a length it never sends.
const presizeLimit = 64 << 10

// readAll is io.ReadAll with its buffer sized from the declared length: a
// write's body arrives in one allocation of its size, not a doubling
// series of copies from 512 bytes. The byte past the declared length is
// room for the read that sees EOF; a body longer than declared (not from
// net/http, which enforces Content-Length) grows as io.ReadAll does.
func readAll(body io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 || declared > presizeLimit {
		return io.ReadAll(body)
	}
	b := make([]byte, 0, declared+1)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// checkText refuses a body that encoding/json would silently alter: invalid
// UTF-8 bytes and \u escapes of unpaired UTF-16 surrogates both decode to
// U+FFFD, so "bad\xff@x" would be stored as "bad\ufffd@x" and a different
// invalid name would then collide with it (a false 409). Nothing valid is
// refused: a literal or escaped U+FFFD the client meant stays accepted.
func checkText(raw []byte) error {
	if !utf8.Valid(raw) {
		off := 0
		for off < len(raw) {
			r, n := utf8.DecodeRune(raw[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return scimerr.BadRequest(scimerr.InvalidValue,
			"the request body is not valid UTF-8 (first bad byte 0x%02x at offset %d); send JSON text encoded as UTF-8", raw[off], off)
	}
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // an escaped character such as \\ or \"; skip it
			continue
		}
		hi, ok := hex4(raw, i+2)
		switch {
		case !ok:
			// Not a \uXXXX escape: the JSON decoder reports the syntax error.
		case hi >= 0xD800 && hi < 0xDC00:
			if lo, ok := hex4(raw, i+8); ok && i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' && lo >= 0xDC00 && lo < 0xE000 {
				i += 11
				continue
			}
			return unpairedSurrogate(raw, i)
		case hi >= 0xDC00 && hi < 0xE000:
			return unpairedSurrogate(raw, i)
		}
		i += 5
	}
	return nil
}

func unpairedSurrogate(raw []byte, off int) error {
	return scimerr.BadRequest(scimerr.InvalidValue,
		"the JSON escape %s at offset %d is an unpaired UTF-16 surrogate, which is no character; send a pair (\\ud83d\\ude00) or the character itself", raw[off:off+6], off)
}

// hex4 reads the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
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
