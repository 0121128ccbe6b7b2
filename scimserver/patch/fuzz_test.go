package patch

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

var applySeeds = []string{
	`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"}`,
	`{"op":"replace","value":{"displayName":"Jane Smith","name.givenName":"Jane","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"701985"}}`,
	`{"op":"Replace","path":"active","value":"False"}`,
	`{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"1a2b"}`,
	`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}`,
	`{"op":"remove","path":"manager[value eq \"m1\"]"}`,
	`{"op":"Add","path":"manager","value":[{"$ref":"https://x/Users/1a2b","value":"1a2b"}]}`,
	`{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b\",\"value\":\"25\",\"displayName\":\"R\"}"}]}`,
	`{"op":"add","path":"roles[primary eq \"True\"].display","value":"Admin"}`,
	`{"op":"Add","path":"members","value":[{"$ref":null,"value":"9f0c"},{"value":"77aa"}]}`,
	`{"op":"Remove","path":"members","value":[{"value":"9f0c"}]}`,
	`{"op":"remove","path":"members[value eq \"9f0c\"]"}`,
	`{"op":"replace","path":"members","value":[{"value":"a"}]}`,
	`{"op":"replace","value":{"displayName":"S2","externalId":"e2"}}`,
	`{"op":"remove","path":"emails.type"},{"op":"replace","path":"name","value":{"givenName":""}}`,
	`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"costCenter":"1"}}`,
	`{"op":"replace","path":"id","value":"x"}`,
}

func FuzzApply(f *testing.F) {
	for _, s := range applySeeds {
		f.Add([]byte(ops(s)))
	}
	r := registry(f)
	user, group := r.ResourceType("User"), r.ResourceType("Group")
	udoc := jsonDoc(f, baseUser)
	gdoc := jsonDoc(f, `{"displayName":"Sales","externalId":"8aa1"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		parsed, err := ParseRequest(body)
		if err != nil {
			if e, ok := scimerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("ParseRequest(%s): error %v is not a 400 *scimerr.Error", body, err)
			}
			return
		}
		for i := 0; i < 2; i++ {
			target, doc := user, udoc
			if i == 1 {
				target, doc = group, gdoc
			}
			before := deepCopyMap(doc)
			res, err := Apply(target, doc, parsed)
			if !reflect.DeepEqual(before, doc) {
				t.Fatalf("Apply(%s) mutated its input", body)
			}
			if err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != 400 {
					t.Fatalf("Apply(%s): error %v is not a 400 *scimerr.Error", body, err)
				}
				continue
			}
			if _, err := json.Marshal(res.Doc); err != nil {
				t.Fatalf("Apply(%s) produced an unencodable document: %v", body, err)
			}
			if _, ok := res.Doc["members"]; ok {
				t.Fatalf("Apply(%s) put members into the document", body)
			}
			again, err := target.Normalize(deepCopyMap(res.Doc))
			if err != nil || !reflect.DeepEqual(again, res.Doc) {
				t.Fatalf("Apply(%s) result does not re-normalise:\n got %#v\nthen %#v (%v)", body, res.Doc, again, err)
			}
		}
	})
}
