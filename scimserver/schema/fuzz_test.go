package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{"userName":"a","active":"False","emails":[{"value":"a@x","primary":"True"}]}`,
		`{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],"userName":"a","addresses":null,"manager":null}`,
		`{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":[{"value":"m","$ref":"x"}],"department":"R&D"}}`,
		`{"userName":"a","roles":[{"value":"{\"id\":\"1\",\"value\":\"25\",\"displayName\":\"R\"}"},"{\"value\":\"x\"}"]}`,
		`{"userName":"a","name.givenName":"J","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"x","NAME":{"familyName":"D"}}`,
		`{"userName":"a","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":"42","contractor":"TRUE","hired":"2026-01-05T10:00:00Z","tags":"solo"}}`,
		`{"displayName":"g","members":[{"value":"u"}],"externalId":"e"}`,
		`{"userName":"a","shoeSize":42,"name":{"nickname":"x"},"urn:ietf:params:scim:schemas:extension:myapp:2.0:User":{"b":1},"urn:x:y":"z"}`,
		`{"userName":"a","emails":[{"value":"x","label":"l"}],"urn:ietf:params:scim:schemas:core:2.0:Group":{"displayName":"g"},"costCenter":"1"}`,
		`{"userName":1}`, `{"userName":"a","emails":"x"}`, `{"userName":" a","emails":{"value":"x"}}`, `{"displayName":"\u00a0"}`, `{"userName":"a","x509Certificates":[{"value":"MIIB"}]}`,
	} {
		f.Add(s)
	}
	r := testRegistry(f)
	user, group := r.ResourceType("User"), r.ResourceType("Group")
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil || m == nil {
			return
		}
		for _, rt := range []*ResourceType{user, group} {
			var names []string
			doc, err := rt.NormalizeReporting(m, func(n string) error { names = append(names, n); return nil })
			plain, perr := rt.Normalize(m)
			if (err == nil) != (perr == nil) || !reflect.DeepEqual(doc, plain) {
				t.Fatalf("reporting changed the outcome of %s: %v/%v", body, err, perr)
			}
			for _, n := range names {
				if n == "" {
					t.Fatalf("an empty name reported for %s", body)
				}
			}
			if err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != 400 {
					t.Fatalf("Normalize(%s): error %v is not a 400 *scimerr.Error", body, err)
				}
				continue
			}
			if _, err := json.Marshal(doc); err != nil {
				t.Fatalf("Normalize(%s) produced an unencodable document: %v", body, err)
			}
			// A normalised document holds only defined attributes: it
			// reports nothing unknown.
			again, err := rt.NormalizeReporting(doc, func(n string) error {
				t.Fatalf("%q reported unknown in a normalised document of %s", n, body)
				return nil
			})
			if err != nil || !reflect.DeepEqual(again, doc) {
				t.Fatalf("Normalize is not idempotent on %s:\n first %#v\nsecond %#v (%v)", body, doc, again, err)
			}
		}
	})
}
