package store

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

// diffDocs lists the attributes that differ between two documents, with
// their previous values, sorted by path. Complex attributes (and extension
// objects) are compared one level down: name.givenName, and
// urn:...:enterprise:2.0:User:department for extension attributes.
// Multi-valued attributes (emails, addresses) are one path each.
func diffDocs(old, cur map[string]any) ([]eventlog.Change, error) {
	var out []eventlog.Change
	add := func(path string, prev any, had bool, secret bool) error {
		c := eventlog.Change{Path: path}
		if had && !secret {
			raw, err := json.Marshal(prev)
			if err != nil {
				return err
			}
			c.Previous = raw
		}
		out = append(out, c)
		return nil
	}
	for _, k := range unionKeys(old, cur) {
		ov, had := old[k]
		nv, has := cur[k]
		secret := slices.Contains(secretAttrs, k)
		om, oIsMap := ov.(map[string]any)
		nm, nIsMap := nv.(map[string]any)
		if (oIsMap || !had) && (nIsMap || !has) && !secret {
			sep := "."
			if strings.HasPrefix(strings.ToLower(k), "urn:") {
				sep = ":"
			}
			for _, sk := range unionKeys(om, nm) {
				osv, shad := om[sk]
				nsv, shas := nm[sk]
				if shad == shas && sameJSON(osv, nsv) {
					continue
				}
				if err := add(k+sep+sk, osv, shad, false); err != nil {
					return nil, err
				}
			}
			continue
		}
		if had == has && sameJSON(ov, nv) {
			continue
		}
		if err := add(k, ov, had, secret); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// sameJSON reports whether two decoded values encode alike: a document read
// back holds json.Number where the one a PATCH built may hold float64.
func sameJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ra, err1 := json.Marshal(a)
	rb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ra, rb)
}

// isActive reads a user's active flag; absent means active.
func isActive(doc map[string]any) bool {
	switch v := doc["active"].(type) {
	case bool:
		return v
	case string:
		return !strings.EqualFold(v, "false")
	}
	return true
}

// userUpdateType is the one event a changed user emits: deactivation and
// reactivation are named for what they are (their changes list active and
// whatever else changed with it); anything else is user.updated.
func userUpdateType(old, cur map[string]any) string {
	switch was, is := isActive(old), isActive(cur); {
	case was && !is:
		return eventlog.UserDeactivated
	case !was && is:
		return eventlog.UserReactivated
	}
	return eventlog.UserUpdated
}
