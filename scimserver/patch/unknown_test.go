package patch

import (
	"reflect"
	"testing"
)

// ApplyReporting names every attribute an add or replace sets that no
// served schema defines; removes and clears lose nothing and are silent.
func TestApplyReportsUnknown(t *testing.T) {
	const myapp = "urn:ietf:params:scim:schemas:extension:myapp:2.0:User"
	rt := registry(t).ResourceType("User")
	cases := []struct {
		name, ops string
		want      []string
	}{
		{"path", `{"op":"add","path":"shoeSize","value":42}`, []string{"shoeSize"}},
		{"filtered path", `{"op":"add","path":"emails[type eq \"work\"].label","value":"x"}`, []string{"emails.label"}},
		{"undeclared extension path", `{"op":"replace","path":"` + myapp + `:b","value":1}`, []string{myapp + ":b"}},
		{"undeclared extension as the path", `{"op":"add","path":"` + myapp + `","value":{"b":1}}`, []string{myapp + ":b"}},
		{"pathless", `{"op":"replace","value":{"shoeSize":42,"displayName":"J"}}`, []string{"shoeSize"}},
		{"pathless undeclared extension", `{"op":"add","value":{"` + myapp + `":{"b":1}}}`, []string{myapp + ":b"}},
		{"pathless dotted key", `{"op":"add","value":{"name.nick":"n"}}`, []string{"name.nick"}},
		{"unknown sub-attribute in a value", `{"op":"add","path":"name","value":{"nick":"n"}}`, []string{"name.nick"}},
		{"unknown sub-attribute in an element", `{"op":"add","path":"emails","value":[{"value":"x","label":"l"}]}`, []string{"emails.label"}},
		// Not unknown.
		{"remove", `{"op":"remove","path":"shoeSize"}`, nil},
		{"clear", `{"op":"replace","path":"shoeSize","value":""},{"op":"replace","path":"shoeSize","value":null}`, nil},
		{"pathless echo", `{"op":"replace","value":{"id":"x","meta":{},"schemas":[],"groups":[],"active":false}}`, nil},
		{"bare extension name", `{"op":"replace","path":"badge","value":7},{"op":"replace","value":{"costCenter":"1"}}`, nil},
		{"manager alias", `{"op":"replace","path":"manager","value":{"managerId":"m2","displayName":"M"}}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := ParseRequest([]byte(ops(tc.ops)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if _, err := ApplyReporting(rt, jsonDoc(t, baseUser), parsed, func(n string) error { got = append(got, n); return nil }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("reported %q, want %q", got, tc.want)
			}
		})
	}
}
