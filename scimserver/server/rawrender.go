package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// The stored document is the JSON encoding/json wrote for the map (keys
// sorted, compact). A response without projection is that document plus a
// few computed members, so it is spliced from the stored bytes instead of
// decoding them into maps and encoding the maps again, which was most of
// a list page's CPU. The bytes are exactly what writeJSON(render(...))
// writes (rawrender_test.go checks it); anything unusual takes that path.

// writeList writes a ListResponse as writeJSON would, copying resources
// spliced by renderRaw as they are: encoding/json would scan each of them
// again to compact it.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, resp listResponse) {
	enc := newValueEncoder()
	schemas, err := enc.encode(resp.Schemas)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n := 256 // the envelope
	for _, res := range resp.Resources {
		if raw, ok := res.(json.RawMessage); ok {
			n += len(raw) + 1
		}
	}
	// Sized for the spliced resources: growing a 125 KB page by doubling
	// copied it about twice over.
	buf := make([]byte, 0, n)
	buf = append(buf, `{"schemas":`...)
	buf = append(buf, schemas...)
	buf = append(buf, `,"totalResults":`...)
	buf = strconv.AppendInt(buf, int64(resp.TotalResults), 10)
	buf = append(buf, `,"startIndex":`...)
	buf = strconv.AppendInt(buf, int64(resp.StartIndex), 10)
	buf = append(buf, `,"itemsPerPage":`...)
	buf = strconv.AppendInt(buf, int64(resp.ItemsPerPage), 10)
	buf = append(buf, `,"Resources":[`...)
	for i, res := range resp.Resources {
		if i > 0 {
			buf = append(buf, ',')
		}
		if raw, ok := res.(json.RawMessage); ok {
			buf = append(buf, raw...)
			continue
		}
		b, err := enc.encode(res)
		if err != nil {
			writeSCIMError(w, http.StatusInternalServerError, "", "internal error rendering the response")
			return
		}
		buf = append(buf, b...)
	}
	buf = append(buf, "]}\n"...)
	writeEncoded(w, http.StatusOK, buf)
}

// member is one top-level member of the response: its key and encoded value.
type member struct {
	key string
	val []byte
}

// renderRaw returns the encoded response for res, with the trailing newline
// json.Encoder writes, or false when only render can produce it.
func (s *Server) renderRaw(rt *schema.ResourceType, res *store.Resource, v view) ([]byte, bool) {
	if v.proj != nil || res.Raw == nil {
		return nil, false
	}
	raw, ok := topLevel(res.Raw)
	if !ok {
		return nil, false
	}
	enc := newValueEncoder()
	out := make([]member, 0, len(raw)+5)
	schemas := []string{rt.Schema.ID}
	for _, m := range raw {
		switch m.key {
		case "schemas", "id", "meta", "members", "groups":
			return nil, false // render lets the computed value win; rare enough to leave to it
		}
		if ext := extensionSchema(rt, m.key); ext != nil {
			// render's rules: drop when empty or no object, manager's
			// $ref, never-returned attributes. Without a manager or an
			// attribute never returned, the stored object is the answer.
			if len(m.val) > 2 && m.val[0] == '{' && !bytes.Contains(m.val, []byte(`"manager"`)) &&
				!slices.ContainsFunc(ext.Attributes, func(a *schema.Attribute) bool { return a.Returned == schema.ReturnedNever }) {
				out = append(out, member{m.key, unescapeHTML(m.val)})
				continue
			}
			val, ok := res.Doc[m.key]
			if res.Doc == nil { // left undecoded by the store
				d := json.NewDecoder(bytes.NewReader(m.val))
				d.UseNumber()
				if d.Decode(&val) != nil {
					return nil, false
				}
			} else if !ok {
				return nil, false
			}
			ext := s.renderExtension(rt, m.key, val, v.base)
			if ext == nil {
				continue
			}
			b, err := enc.encode(ext)
			if err != nil {
				return nil, false
			}
			out = append(out, member{m.key, b})
			continue
		}
		if never(rt.Schema.Attributes, m.key) {
			continue
		}
		out = append(out, member{m.key, unescapeHTML(m.val)})
	}
	// Extension URNs in schema order, as render lists them.
	for _, e := range rt.Extensions {
		if slices.ContainsFunc(out, func(m member) bool { return m.key == e.Schema.ID }) {
			schemas = append(schemas, e.Schema.ID)
		}
	}
	meta := append(make([]byte, 0, 160+len(v.base)+len(res.ID)), `{"created":`...)
	meta = enc.appendString(meta, formatTime(res.Created))
	meta = append(meta, `,"lastModified":`...)
	meta = enc.appendString(meta, formatTime(res.LastModified))
	meta = append(meta, `,"location":`...)
	meta = enc.appendString(meta, location(v.base, rt, res.ID))
	meta = append(meta, `,"resourceType":`...)
	meta = enc.appendString(meta, rt.Name)
	meta = append(meta, `,"version":`...)
	meta = append(enc.appendString(meta, etag(res.Version)), '}')
	sch := []byte{'['}
	for i, u := range schemas {
		if i > 0 {
			sch = append(sch, ',')
		}
		sch = enc.appendString(sch, u)
	}
	out = append(out, member{"schemas", append(sch, ']')}, member{"id", enc.appendString(nil, res.ID)}, member{"meta", meta})
	if res.Kind == store.Group && res.Members != nil {
		b := []byte{'['}
		for i, m := range res.Members {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"$ref":`...)
			b = enc.appendString(b, memberRef(v.base, m))
			if m.Display != "" {
				b = append(b, `,"display":`...)
				b = enc.appendString(b, m.Display)
			}
			if m.Type != "" {
				b = append(b, `,"type":`...)
				b = enc.appendString(b, m.Type)
			}
			b = append(b, `,"value":`...)
			b = append(enc.appendString(b, m.Value), '}')
		}
		out = append(out, member{"members", append(b, ']')})
	}
	if res.Kind == store.User && v.groups != nil {
		if refs := v.groups[res.ID]; len(refs) > 0 {
			b := []byte{'['}
			for i, g := range refs {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"$ref":`...)
				b = enc.appendString(b, v.base+"/Groups/"+g.ID)
				b = append(b, `,"display":`...)
				b = enc.appendString(b, g.DisplayName)
				b = append(b, `,"type":"direct","value":`...)
				b = append(enc.appendString(b, g.ID), '}')
			}
			out = append(out, member{"groups", append(b, ']')})
		}
	}
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.key, b.key) })
	n := 3
	for _, m := range out {
		n += len(m.key) + len(m.val) + 4
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '{')
	for i, m := range out {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = enc.appendString(buf, m.key)
		buf = append(buf, ':')
		buf = append(buf, m.val...)
	}
	buf = append(buf, '}', '\n')
	return buf, true
}

// extensionSchema is the extension of rt whose URN is key, or nil.
func extensionSchema(rt *schema.ResourceType, key string) *schema.Schema {
	for _, e := range rt.Extensions {
		if e.Schema.ID == key {
			return e.Schema
		}
	}
	return nil
}

func never(attrs []*schema.Attribute, name string) bool {
	for _, a := range attrs {
		if a.Returned == schema.ReturnedNever && a.Name == name {
			return true
		}
	}
	return false
}

// valueEncoder encodes values as writeJSON does (no HTML escaping).
type valueEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder // made on first use: most responses need none
}

func newValueEncoder() *valueEncoder { return &valueEncoder{} }

// encode returns v's encoding without the newline; the bytes are its own.
func (e *valueEncoder) encode(v any) ([]byte, error) {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
	}
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})), nil
}

// appendString appends s encoded as encoding/json encodes it without HTML
// escaping: printable ASCII needs only '"' and '\' escaped; anything else
// goes through the encoder.
func (e *valueEncoder) appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			b, _ := e.encode(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, s[i])
	}
	return append(buf, '"')
}

// topLevel splits a compact JSON object into its members, keys decoded. It
// reports false for anything but a well-formed compact object with sorted,
// distinct keys (what json.Marshal of a map writes).
func topLevel(b []byte) ([]member, bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	var out []member
	i := 1
	if b[i] == '}' {
		return out, i == len(b)-1
	}
	for {
		end, ok := skipString(b, i)
		if !ok || end >= len(b) || b[end] != ':' {
			return nil, false
		}
		key := string(b[i+1 : end-1])
		if bytes.IndexByte(b[i:end], '\\') >= 0 {
			if json.Unmarshal(b[i:end], &key) != nil {
				return nil, false
			}
		}
		if n := len(out); n > 0 && out[n-1].key >= key {
			return nil, false
		}
		vs := end + 1
		ve, ok := skipValue(b, vs)
		if !ok || ve >= len(b) {
			return nil, false
		}
		out = append(out, member{key, b[vs:ve]})
		switch b[ve] {
		case ',':
			i = ve + 1
		case '}':
			return out, ve == len(b)-1
		default:
			return nil, false
		}
	}
}

// skipString returns the index after the string starting at b[i].
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the compact JSON value starting at
// b[i]. It trusts the value to be valid JSON (the store wrote it with
// encoding/json) and only finds where it ends.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
		j++
	}
	return j, j > i
}

// unescapeHTML undoes json.Marshal's HTML escaping (\u003c, \u003e,
// \u0026), which writeJSON does not do. Only string contents hold
// backslashes, and each escape is read whole, so an escaped backslash
// followed by "u0026" stays as it is.
func unescapeHTML(v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 >= len(v) {
			out = append(out, c)
			continue
		}
		if v[i+1] == 'u' && i+6 <= len(v) {
			switch string(v[i+2 : i+6]) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, c, v[i+1])
		i++
	}
	return out
}
