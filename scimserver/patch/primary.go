package patch

import "reflect"

// keepOnePrimary runs op on a multi-valued complex attribute with a primary
// sub-attribute and then enforces RFC 7644 §3.5.2: an operation that makes a
// value primary clears "primary" on the others, so that `add
// emails[type eq "home"].primary true` moves the primary flag rather than
// leaving two. Values that were already primary before the operation lose
// the flag only when exactly one value newly gained it.
func keepOnePrimary(t target, op func() error) error {
	if !t.attr.MultiValued || t.attr.Sub("primary") == nil {
		return op()
	}
	before := primaries(t.list(t.container()))
	if err := op(); err != nil {
		return err
	}
	after := primaries(t.list(t.container()))
	var gained []map[string]any
	for _, m := range after {
		if !containsMap(before, m) {
			gained = append(gained, m)
		}
	}
	if len(gained) != 1 {
		return nil
	}
	for _, m := range after {
		if !sameMap(m, gained[0]) {
			m["primary"] = false
		}
	}
	return nil
}

func primaries(elems []any) []map[string]any {
	var out []map[string]any
	for _, e := range elems {
		if m, ok := e.(map[string]any); ok && m["primary"] == true {
			out = append(out, m)
		}
	}
	return out
}

func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
