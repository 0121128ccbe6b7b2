package schema

import (
	"reflect"
	"testing"
)

// Discard removes the password from a normalised document, whichever way
// it got there, keeps everything else, and leaves Group documents alone;
// the password stays defined (served in /Schemas, writeOnly, never
// returned) so identity providers that send it are not refused.
func TestDiscard(t *testing.T) {
	reg := testRegistry(t)
	user, grp := reg.ResourceType("User"), reg.ResourceType("Group")
	for _, tc := range []struct {
		name  string
		rt    *ResourceType
		body  map[string]any
		want  map[string]any
		found bool
	}{
		{"password", user, map[string]any{"userName": "a", "password": "pw"}, map[string]any{"userName": "a"}, true},
		{"other casing", user, map[string]any{"userName": "a", "PASSWORD": "pw"}, map[string]any{"userName": "a"}, true},
		{"core URN prefix", user, map[string]any{"userName": "a", UserURN + ":password": "pw"}, map[string]any{"userName": "a"}, true},
		{"empty means absent", user, map[string]any{"userName": "a", "password": ""}, map[string]any{"userName": "a"}, false},
		{"no password", user, map[string]any{"userName": "a", "active": true}, map[string]any{"userName": "a", "active": true}, false},
		{"group", grp, map[string]any{"displayName": "g"}, map[string]any{"displayName": "g"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := tc.rt.Normalize(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if found := tc.rt.Discard(doc); found != tc.found {
				t.Fatalf("Discard = %v, want %v", found, tc.found)
			}
			if !reflect.DeepEqual(doc, tc.want) {
				t.Fatalf("doc %v, want %v", doc, tc.want)
			}
		})
	}
	a := user.Schema.Attr("password")
	if a == nil || a.Mutability != WriteOnly || a.Returned != ReturnedNever {
		t.Fatalf("password must stay defined, writeOnly and never returned: %+v", a)
	}
}
