package patch

import "testing"

// entraPatch is a 10-operation PATCH in Entra's legacy shape (contract §2.7).
var entraPatch = ops(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},
 {"op":"Replace","path":"name.familyName","value":"Smith"},
 {"op":"Replace","path":"name.givenName","value":"Janet"},
 {"op":"Replace","path":"displayName","value":"Janet Smith"},
 {"op":"Replace","path":"externalId","value":"jsmith"},
 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701985"},
 {"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"},
 {"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 425 555 0101"},
 {"op":"Replace","path":"active","value":"False"},
 {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"1a2b"}`)

// BenchmarkApplyEntra parses and applies the 10-operation request.
func BenchmarkApplyEntra(b *testing.B) {
	rt := registry(b).ResourceType("User")
	doc := jsonDoc(b, baseUser)
	body := []byte(entraPatch)
	b.ReportAllocs()
	for b.Loop() {
		parsed, err := ParseRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Apply(rt, doc, parsed); err != nil {
			b.Fatal(err)
		}
	}
}
