// Package patch parses SCIM PATCH requests (RFC 7644 §3.5.2) and applies
// them to documents, accepting every shape Microsoft Entra ID's provisioning
// client sends (../shared/entra-scim-client.md §2.7–§2.11, §6): capitalised
// ops, string booleans, pathless values with dotted and URN keys, filtered
// paths that create the element they name, six manager shapes, JSON-encoded
// roles and the legacy group-member removal.
//
// Apply is atomic: it works on a deep copy and either returns the whole
// result or an error. Group membership never appears in documents; every
// operation on members becomes an ordered store.MemberOp.
package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// MaxOperations bounds the operations of one request. Entra sends a handful;
// a large group sync batches member ids inside few operations.
const MaxOperations = 1000

// Operation is one PATCH operation. Op is lower-cased ("add", "remove",
// "replace"); Path is as sent ("" when absent); Value is decoded with
// UseNumber and nil when absent or null.
type Operation struct {
	Op    string
	Path  string
	Value any
}

// MemberOp is a change to a group's membership; see store.MemberOp.
type MemberOp = store.MemberOp

// ParseRequest decodes a PatchOp message (RFC 7644 §3.5.2). It is lenient
// where Entra or other clients deviate and the intent is clear:
//   - member names ("Operations", "op", "path", "value") match in any case,
//     and op values may be capitalised ("Replace");
//   - "schemas" may be missing or list other URNs: clients sending plain
//     application/json PATCH bodies omit it and nothing depends on it.
//
// It is strict about what would otherwise be guessed: the body must be one
// JSON object, Operations a non-empty array of objects, op one of add,
// remove and replace, and path a string. Errors are *scimerr.Error
// invalidSyntax (or tooMany beyond MaxOperations).
func ParseRequest(body []byte) ([]Operation, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var msg map[string]any
	if err := dec.Decode(&msg); err != nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the PATCH body is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the PATCH body has data after its JSON object")
	}
	if msg == nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the PATCH body is not a JSON object")
	}
	raw, ok := field(msg, "Operations")
	if !ok || raw == nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `the PATCH body needs "Operations": [{"op": "replace", "path": "...", "value": ...}]`)
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"Operations" must be an array of operations`)
	}
	if len(list) == 0 {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"Operations" is empty; send at least one operation`)
	}
	if len(list) > MaxOperations {
		return nil, scimerr.BadRequest(scimerr.TooMany, "%d operations in one PATCH; at most %d are accepted", len(list), MaxOperations)
	}
	ops := make([]Operation, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "operation %d is not a JSON object", i+1)
		}
		var op Operation
		rawOp, _ := field(m, "op")
		s, ok := rawOp.(string)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `operation %d: "op" must be "add", "remove" or "replace"`, i+1)
		}
		op.Op = strings.ToLower(strings.TrimSpace(s))
		switch op.Op {
		case "add", "remove", "replace":
		default:
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `operation %d: op %q is not "add", "remove" or "replace"`, i+1, s)
		}
		if p, ok := field(m, "path"); ok && p != nil {
			if op.Path, ok = p.(string); !ok {
				return nil, scimerr.BadRequest(scimerr.InvalidSyntax, `operation %d: "path" must be a string`, i+1)
			}
			op.Path = strings.TrimSpace(op.Path)
		}
		op.Value, _ = field(m, "value")
		ops = append(ops, op)
	}
	return ops, nil
}

// field reads a member by name, preferring the exact spelling, then any case.
func field(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// describeOp names an operation in error details: `operation 2 (remove members[value eq "x"])`.
func describeOp(i int, op Operation) string {
	if op.Path == "" {
		return fmt.Sprintf("operation %d (%s without path)", i+1, op.Op)
	}
	p := op.Path
	if len(p) > 120 {
		p = p[:120] + "..."
	}
	return fmt.Sprintf("operation %d (%s %s)", i+1, op.Op, p)
}
