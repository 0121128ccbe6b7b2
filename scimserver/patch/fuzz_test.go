package patch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

var applySeeds = []string{
	`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"}`,
	`{"op":"replace","value":{"displayName":"Jane Smith","name.givenName":"Jane","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"701985"}}`,
	`{"op":"Replace","path":"active","value":"False"}`,
	`{"op":"add","path":"shoeSize","value":42},{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:myapp:2.0:User":{"b":1},"name":{"nickname":"x"}}}`,
	`{"op":"remove","path":"shoeSize"},{"op":"replace","path":"emails[type eq \"work\"].label","value":""}`,
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
	`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:","value":"x"}`,
	`{"op":"add","path":"emails","value":"x@y"},{"op":"add","path":"emails","value":{"value":"x@y"}}`,
	`{"op":"replace","path":"userName","value":12345},{"op":"replace","path":"userName","value":" bob"}`,
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
			// Reporting unknown attributes never changes the outcome; refusing
			// them (strict mode) fails with a 400 or leaves it unchanged.
			reported := 0
			rres, rerr := ApplyReporting(target, doc, parsed, func(string) error { reported++; return nil })
			if (err == nil) != (rerr == nil) || (err == nil && !reflect.DeepEqual(res, rres)) {
				t.Fatalf("reporting changed the outcome of %s: %v/%v", body, err, rerr)
			}
			sres, serr := ApplyReporting(target, doc, parsed, func(n string) error { return scimerr.BadRequest(scimerr.InvalidValue, "unknown %q", n) })
			if reported > 0 && err == nil && serr == nil {
				t.Fatalf("%s: %d unknown attributes reported, yet strict mode accepted it", body, reported)
			}
			if reported == 0 && err == nil && (serr != nil || !reflect.DeepEqual(res, sres)) {
				t.Fatalf("%s: nothing unknown, yet strict mode changed the outcome: %v", body, serr)
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

// FuzzApplyOp drives one operation's parts directly, so the fuzzer spends
// its time on paths and values rather than on JSON framing.
func FuzzApplyOp(f *testing.F) {
	for _, s := range []struct{ op, path, value string }{
		{"replace", `emails[type eq "work"].value`, `"x@y"`},
		{"add", `addresses[type eq "work"].postalCode`, `"98052"`},
		{"add", `roles[primary eq "True"].display`, `"Admin"`},
		{"remove", `manager[value eq "m1"]`, ``},
		{"replace", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`, `{"value":""}`},
		{"add", `manager`, `[{"$ref":"x","value":"1a2b"}]`},
		{"add", ``, `{"name.givenName":"J","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"x"}`},
		{"remove", `members`, `[{"value":"9f0c"}]`},
		{"remove", `members[value eq "9f0c"]`, ``},
		{"replace", `name`, `{"givenName":""}`},
		{"remove", `emails.type`, ``},
		{"add", `roles`, `[{"value":"{\"id\":\"1\",\"value\":\"25\"}"}]`},
		{"replace", `urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge`, `"12"`},
	} {
		f.Add(s.op, s.path, s.value)
	}
	r := registry(f)
	user, group := r.ResourceType("User"), r.ResourceType("Group")
	udoc := jsonDoc(f, baseUser)
	gdoc := jsonDoc(f, `{"displayName":"Sales","externalId":"8aa1"}`)
	f.Fuzz(func(t *testing.T, op, path, value string) {
		var v any
		if value != "" {
			dec := json.NewDecoder(strings.NewReader(value))
			dec.UseNumber()
			if dec.Decode(&v) != nil {
				return
			}
		}
		switch op {
		case "add", "remove", "replace":
		default:
			return
		}
		ops := []Operation{{Op: op, Path: path, Value: v}, {Op: op, Path: path, Value: v}}
		for i := 0; i < 2; i++ {
			target, doc := user, udoc
			if i == 1 {
				target, doc = group, gdoc
			}
			before := deepCopyMap(doc)
			res, err := Apply(target, doc, ops)
			if !reflect.DeepEqual(before, doc) {
				t.Fatalf("Apply mutated its input")
			}
			if err != nil {
				if e, ok := scimerr.As(err); !ok || e.Status != 400 {
					t.Fatalf("Apply(%s %q %s): error %v is not a 400 *scimerr.Error", op, path, value, err)
				}
				continue
			}
			again, err := target.Normalize(deepCopyMap(res.Doc))
			if err != nil || !reflect.DeepEqual(again, res.Doc) {
				t.Fatalf("Apply(%s %q %s) result does not re-normalise:\n got %#v\nthen %#v (%v)", op, path, value, res.Doc, again, err)
			}
		}
	})
}
