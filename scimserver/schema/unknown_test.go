package schema

import (
	"errors"
	"reflect"
	"testing"
)

// NormalizeReporting names every attribute it drops because no served
// schema defines it, and nothing else.
func TestNormalizeReportsUnknown(t *testing.T) {
	const myapp = "urn:ietf:params:scim:schemas:extension:myapp:2.0:User"
	r := testRegistry(t)
	cases := []struct {
		name, rt, body string
		want           []string
	}{
		{"core name", "User", `{"userName":"a","shoeSize":42}`, []string{"shoeSize"}},
		{"empty key", "User", `{"userName":"a","":"x"}`, []string{`""`}},
		{"undeclared extension object", "User", `{"userName":"a","` + myapp + `":{"b":1,"a":"x"}}`, []string{myapp + ":a", myapp + ":b"}},
		{"undeclared extension attribute key", "User", `{"userName":"a","` + myapp + `:b":1}`, []string{myapp + ":b"}},
		{"unknown attribute of a declared extension", "User", `{"userName":"a","` + acmeURN + `":{"badge":1,"shoe":2}}`, []string{acmeURN + ":shoe"}},
		{"unknown sub-attribute", "User", `{"userName":"a","name":{"givenName":"A","nick":"n"}}`, []string{"name.nick"}},
		{"unknown dotted sub-attribute key", "User", `{"userName":"a","name.nick":"n"}`, []string{"name.nick"}},
		{"unknown sub-attribute once for all elements", "User", `{"userName":"a","emails":[{"value":"x","label":"1"},{"value":"y","label":"2"}]}`, []string{"emails.label"}},
		{"the Group URN's content on a user", "User", `{"userName":"a","urn:ietf:params:scim:schemas:core:2.0:Group":{"displayName":"g"}}`, []string{"urn:ietf:params:scim:schemas:core:2.0:Group:displayName"}},
		{"the enterprise extension on a group", "Group", `{"displayName":"g","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"d"}}`,
			[]string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}},
		// Not unknown.
		{"echoes", "User", `{"schemas":["urn:x"],"id":"i","meta":{"x":1},"userName":"a","groups":[{"value":"g"}],"manager":{"managerId":"m","displayName":"M"}}`, nil},
		{"bare names of declared extensions", "User", `{"userName":"a","costCenter":"1","badge":7}`, nil},
		{"null, empty string and empty object", "User", `{"userName":"a","shoeSize":null,"hat":"","` + myapp + `":{}}`, nil},
		{"group members", "Group", `{"displayName":"g","members":[{"value":"u","display":"U"}]}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			_, err := r.ResourceType(tc.rt).NormalizeReporting(decode(t, tc.body), func(n string) error { got = append(got, n); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("reported %q, want %q", got, tc.want)
			}
		})
	}
}

// An error from the UnknownFunc (a strict tenant) fails Normalize with it.
func TestNormalizeReportingError(t *testing.T) {
	stop := errors.New("stop")
	_, err := testRegistry(t).ResourceType("User").NormalizeReporting(decode(t, `{"userName":"a","emails":[{"value":"x","label":"l"}]}`),
		func(string) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the UnknownFunc's error", err)
	}
}
