package schema

import "testing"

// entraCreate is Entra's create body with the default mapping (contract
// §2.4): nothing in it is unknown, so reporting only costs the walk.
const entraCreate = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"jdoe","userName":"jdoe@contoso.com","active":true,"displayName":"Jane Doe","title":"Engineer",
 "emails":[{"primary":true,"type":"work","value":"jdoe@contoso.com"}],"preferredLanguage":"en-US",
 "name":{"formatted":"Jane Doe","familyName":"Doe","givenName":"Jane"},
 "addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US","primary":false}],
 "phoneNumbers":[{"type":"work","value":"+1 425 555 0100"},{"type":"mobile","value":"+1 425 555 0101"}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"R&D"},
 "roles":[],"meta":{"resourceType":"User"}}`

// BenchmarkNormalizeEntraCreate measures what counting unknown attributes
// adds to normalising a create: plain is Normalize, reporting is
// NormalizeReporting with the server's kind of collector.
func BenchmarkNormalizeEntraCreate(b *testing.B) {
	rt := testRegistry(b).ResourceType("User")
	body := decode(b, entraCreate)
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rt.Normalize(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reporting", func(b *testing.B) {
		b.ReportAllocs()
		var names []string
		for b.Loop() {
			names = names[:0]
			if _, err := rt.NormalizeReporting(body, func(n string) error { names = append(names, n); return nil }); err != nil {
				b.Fatal(err)
			}
		}
		if len(names) != 0 {
			b.Fatalf("reported %q", names)
		}
	})
}
