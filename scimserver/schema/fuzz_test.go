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
			doc, err := rt.Normalize(m)
			if err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != 400 {
					t.Fatalf("Normalize(%s): error %v is not a 400 *scimerr.Error", body, err)
				}
				continue
			}
			if _, err := json.Marshal(doc); err != nil {
				t.Fatalf("Normalize(%s) produced an unencodable document: %v", body, err)
			}
			again, err := rt.Normalize(doc)
			if err != nil || !reflect.DeepEqual(again, doc) {
				t.Fatalf("Normalize is not idempotent on %s:\n first %#v\nsecond %#v (%v)", body, doc, again, err)
			}
		}
	})
}
