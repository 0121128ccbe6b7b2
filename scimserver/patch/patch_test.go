package patch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

const ent = schema.EnterpriseUserURN

func registry(t testing.TB) *schema.Registry {
	r, err := schema.NewRegistry(&config.Tenant{Groups: true, Extensions: []config.Extension{{
		URN:        "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		Attributes: []config.Attribute{{Name: "badge", Type: "integer"}, {Name: "contractor", Type: "boolean"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func jsonDoc(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

const baseUser = `{"userName":"jdoe@contoso.com","externalId":"jdoe","active":true,"displayName":"Jane Doe",
 "name":{"givenName":"Jane","familyName":"Doe"},
 "emails":[{"value":"jdoe@contoso.com","type":"work","primary":true}],
 "phoneNumbers":[{"value":"+1 425 555 0100","type":"work"}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"m1"}}}`

const minimalUser = `{"userName":"min@contoso.com"}`

func ops(body string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + body + `]}`
}

func TestApplyUser(t *testing.T) {
	rt := registry(t).ResourceType("User")
	for _, tc := range []struct {
		name, doc, ops, want string
	}{
		{
			name: "contract 2.7 legacy (no flag) request",
			doc:  baseUser,
			ops: `{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},
			  {"op":"Replace","path":"name.familyName","value":"Smith"},
			  {"op":"Replace","path":"displayName","value":"Jane Smith"},
			  {"op":"Replace","path":"externalId","value":"jsmith"},
			  {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701985"},
			  {"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"98052"},
			  {"op":"Add","path":"nickName","value":"Babs"}`,
			want: `{"userName":"jdoe@contoso.com","externalId":"jsmith","active":true,"displayName":"Jane Smith","nickName":"Babs",
			  "name":{"givenName":"Jane","familyName":"Smith"},
			  "emails":[{"value":"new@contoso.com","type":"work","primary":true}],
			  "phoneNumbers":[{"value":"+1 425 555 0100","type":"work"}],
			  "addresses":[{"type":"work","postalCode":"98052"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701985","manager":{"value":"m1"}}}`,
		},
		{
			name: "disable with string False",
			doc:  baseUser,
			ops:  `{"op":"Replace","path":"active","value":"False"}`,
			want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
		},
		{
			name: "re-enable with string True and lower-case op",
			doc:  strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
			ops:  `{"op":"replace","path":"active","value":"True"}`,
			want: baseUser,
		},
		{
			name: "flag form: pathless replace with dotted and URN keys",
			doc:  baseUser,
			ops: `{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"},
			  {"op":"replace","value":{"displayName":"Jane Smith","name.givenName":"Janet","name.familyName":"Smith",
			     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"701985"}},
			  {"op":"replace","path":"active","value":false}`,
			want: `{"userName":"jdoe@contoso.com","externalId":"jdoe","active":false,"displayName":"Jane Smith",
			  "name":{"givenName":"Janet","familyName":"Smith"},
			  "emails":[{"value":"new@contoso.com","type":"work","primary":true}],
			  "phoneNumbers":[{"value":"+1 425 555 0100","type":"work"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701985","manager":{"value":"m1"}}}`,
		},
		{
			name: "pathless add with dotted keys, nested URN object, unknown and read-only keys",
			doc:  minimalUser,
			ops: `{"op":"add","value":{"name.givenName":"Min","name.formatted":"Min X","favouriteColour":"red","id":"x","groups":[{"value":"g"}],
			   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":"m9"},
			   "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge":"7"}}`,
			want: `{"userName":"min@contoso.com","name":{"givenName":"Min","formatted":"Min X"},
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops","manager":{"value":"m9"}},
			  "urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":7}}`,
		},
		{
			name: "validator add attributes (verbose): filtered paths create elements",
			doc:  minimalUser,
			ops: `{"op":"add","path":"emails[type eq \"work\"].value","value":"w@x.com"},
			  {"op":"add","path":"emails[type eq \"work\"].primary","value":"True"},
			  {"op":"add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"},
			  {"op":"add","path":"addresses[type eq \"work\"].locality","value":"Redmond"},
			  {"op":"add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 1"},
			  {"op":"add","path":"phoneNumbers[type eq \"fax\"].value","value":"+1 2"},
			  {"op":"add","path":"roles[primary eq \"True\"].display","value":"Admin"},
			  {"op":"add","path":"roles[primary eq \"True\"].value","value":"admin"},
			  {"op":"add","path":"roles[primary eq \"True\"].type","value":"WindowsAzureActiveDirectoryRole"}`,
			want: `{"userName":"min@contoso.com",
			  "emails":[{"type":"work","value":"w@x.com","primary":true}],
			  "addresses":[{"type":"work","streetAddress":"1 Main St","locality":"Redmond"}],
			  "phoneNumbers":[{"type":"mobile","value":"+1 1"},{"type":"fax","value":"+1 2"}],
			  "roles":[{"primary":true,"display":"Admin","value":"admin","type":"WindowsAzureActiveDirectoryRole"}]}`,
		},
		{
			name: "filtered replace of a whole element merges; filtered remove drops it",
			doc:  baseUser,
			ops: `{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"z@x"}},
			  {"op":"remove","path":"phoneNumbers[type eq \"work\"]"},
			  {"op":"remove","path":"phoneNumbers[type eq \"home\"]"}`,
			want: strings.NewReplacer(`"value":"jdoe@contoso.com","type":"work"`, `"value":"z@x","type":"work"`,
				`"phoneNumbers":[{"value":"+1 425 555 0100","type":"work"}],`, ``).Replace(baseUser),
		},
		{
			name: "add on existing single-valued replaces; add on multi-valued appends and dedupes",
			doc:  baseUser,
			ops: `{"op":"Add","path":"displayName","value":"JD"},
			  {"op":"Add","path":"emails","value":[{"value":"jdoe@contoso.com","type":"work","primary":true},{"value":"h@x","type":"home"}]},
			  {"op":"add","path":"roles","value":[]}`,
			want: strings.NewReplacer(`"displayName":"Jane Doe"`, `"displayName":"JD"`,
				`"emails":[{"value":"jdoe@contoso.com","type":"work","primary":true}]`,
				`"emails":[{"value":"jdoe@contoso.com","type":"work","primary":true},{"value":"h@x","type":"home"}]`).Replace(baseUser),
		},
		{
			name: "null update test: empty string then null clear",
			doc:  baseUser,
			ops: `{"op":"replace","path":"displayName","value":""},
			  {"op":"replace","path":"name.givenName","value":null},
			  {"op":"replace","path":"emails[type eq \"work\"].value","value":""},
			  {"op":"replace","path":"phoneNumbers","value":null},
			  {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":""},
			  {"op":"remove","path":"nickName"}`,
			want: `{"userName":"jdoe@contoso.com","externalId":"jdoe","active":true,
			  "name":{"familyName":"Doe"},
			  "emails":[{"type":"work","primary":true}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "manager (a) add as string",
			doc:  minimalUser,
			ops:  `{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"1a2b3c4d-0000-1111-2222-333344445555"}`,
			want: `{"userName":"min@contoso.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"1a2b3c4d-0000-1111-2222-333344445555"}}}`,
		},
		{
			name: "manager (b) replace",
			doc:  baseUser,
			ops:  `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"6f7e"}`,
			want: strings.Replace(baseUser, `"manager":{"value":"m1"}`, `"manager":{"value":"6f7e"}`, 1),
		},
		{
			name: "manager (c) remove with empty string",
			doc:  baseUser,
			ops:  `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m1"}`, ``, 1),
		},
		{
			name: "manager (d) remove with {value:\"\"}",
			doc:  baseUser,
			ops:  `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m1"}`, ``, 1),
		},
		{
			name: "manager (e) remove with value filter",
			doc:  baseUser,
			ops:  `{"op":"remove","path":"manager[value eq \"m1\"]"}`,
			want: strings.Replace(baseUser, `,"manager":{"value":"m1"}`, ``, 1),
		},
		{
			name: "manager (e) remove with a filter naming another manager keeps ours",
			doc:  baseUser,
			ops:  `{"op":"remove","path":"manager[value eq \"someone-else\"]"}`,
			want: baseUser,
		},
		{
			name: "manager (f) legacy array with $ref",
			doc:  minimalUser,
			ops:  `{"op":"Add","path":"manager","value":[{"$ref":"https://x/Users/1a2b","value":"1a2b"}]}`,
			want: `{"userName":"min@contoso.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"1a2b"}}}`,
		},
		{
			name: "manager as object and via manager.value; removing the last attribute drops the extension",
			doc:  minimalUser,
			ops: `{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"a","displayName":"A"}},
			  {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"b"},
			  {"op":"replace","path":"manager","value":{"displayName":"ignored"}}`,
			want: `{"userName":"min@contoso.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"b"}}}`,
		},
		{
			name: "remove manager entirely",
			doc:  `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}}}`,
			ops:  `{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}`,
			want: `{"userName":"a"}`,
		},
		{
			name: "roles as JSON strings (contract 2.10), added twice stays once",
			doc:  minimalUser,
			ops: `{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}]},
			  {"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648\",\"value\":\"25\",\"displayName\":\"Role1234\"}"}]}`,
			want: `{"userName":"min@contoso.com","roles":[{"value":"25","display":"Role1234"}]}`,
		},
		{
			name: "assertive roles: replace the whole array",
			doc:  `{"userName":"a","roles":[{"value":"old"}]}`,
			ops:  `{"op":"replace","path":"roles","value":[{"primary":false,"type":"t","display":"R1","value":"r1"},{"primary":"False","display":"R2","value":"r2"}]}`,
			want: `{"userName":"a","roles":[{"primary":false,"type":"t","display":"R1","value":"r1"},{"primary":false,"display":"R2","value":"r2"}]}`,
		},
		{
			name: "remove absent attribute, remove unmatched filter, unknown paths: all succeed",
			doc:  minimalUser,
			ops: `{"op":"remove","path":"nickName"},
			  {"op":"remove","path":"emails[type eq \"work\"]"},
			  {"op":"remove","path":"emails[type eq \"work\"].value"},
			  {"op":"replace","path":"favouriteColour","value":"red"},
			  {"op":"replace","path":"urn:ietf:params:scim:schemas:extension:other:2.0:User:x","value":"1"},
			  {"op":"replace","path":"name.nope","value":"1"}`,
			want: minimalUser,
		},
		{
			name: "URN-prefixed core path and schema-URN path with object value",
			doc:  minimalUser,
			ops: `{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:title","value":"Eng"},
			  {"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"costCenter":"42","Division":"D"}}`,
			want: `{"userName":"min@contoso.com","title":"Eng","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"42","division":"D"}}`,
		},
		{
			name: "remove a whole extension by schema URN",
			doc:  baseUser,
			ops:  `{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}`,
			want: strings.Replace(baseUser, `,
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","manager":{"value":"m1"}}`, ``, 1),
		},
		{
			name: "sub-attribute path on a multi-valued attribute addresses every element",
			doc:  `{"userName":"a","emails":[{"value":"a@x","type":"work"},{"value":"b@x","type":"home"}]}`,
			ops:  `{"op":"remove","path":"emails.type"},{"op":"replace","path":"emails.primary","value":"false"}`,
			want: `{"userName":"a","emails":[{"value":"a@x","primary":false},{"value":"b@x","primary":false}]}`,
		},
		{
			name: "remove with a value list on a multi-valued attribute removes those elements",
			doc:  `{"userName":"a","emails":[{"value":"a@x","type":"work"},{"value":"b@x","type":"home"}]}`,
			ops:  `{"op":"remove","path":"emails","value":[{"value":"b@x"}]}`,
			want: `{"userName":"a","emails":[{"value":"a@x","type":"work"}]}`,
		},
		{
			name: "replace name merges sub-attributes",
			doc:  baseUser,
			ops:  `{"op":"replace","path":"name","value":{"givenName":"J","middleName":"Q","familyName":""}}`,
			want: strings.Replace(baseUser, `"name":{"givenName":"Jane","familyName":"Doe"}`, `"name":{"givenName":"J","middleName":"Q"}`, 1),
		},
		{
			name: "custom extension boolean and integer",
			doc:  minimalUser,
			ops:  `{"op":"add","path":"urn:ietf:params:scim:schemas:extension:acme:2.0:User:contractor","value":"TRUE"},{"op":"add","path":"urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge","value":12}`,
			want: `{"userName":"min@contoso.com","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"contractor":true,"badge":12}}`,
		},
		{
			name: "multiple ops on the same attribute apply in order",
			doc:  minimalUser,
			ops:  `{"op":"add","path":"title","value":"A"},{"op":"replace","path":"title","value":"B"},{"op":"remove","path":"title"},{"op":"add","path":"title","value":"C"}`,
			want: `{"userName":"min@contoso.com","title":"C"}`,
		},
		{
			name: "making a value primary clears primary on the others (RFC 7644 3.5.2)",
			doc:  `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":true},{"value":"b@x","type":"home"}]}`,
			ops:  `{"op":"replace","path":"emails[type eq \"home\"].primary","value":"True"},{"op":"add","path":"emails[type eq \"other\"].value","value":"c@x"}`,
			want: `{"userName":"a","emails":[{"value":"a@x","type":"work","primary":false},{"value":"b@x","type":"home","primary":true},{"type":"other","value":"c@x"}]}`,
		},
		{
			name: "update userName",
			doc:  minimalUser,
			ops:  `{"op":"Replace","path":"userName","value":"new@contoso.com"}`,
			want: `{"userName":"new@contoso.com"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := ParseRequest([]byte(ops(tc.ops)))
			if err != nil {
				t.Fatal(err)
			}
			doc := jsonDoc(t, tc.doc)
			before := jsonDoc(t, tc.doc)
			res, err := Apply(rt, doc, parsed)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(doc, before) {
				t.Fatal("Apply mutated its input document")
			}
			if len(res.Members) != 0 {
				t.Fatalf("member ops for a user: %v", res.Members)
			}
			if want := jsonDoc(t, tc.want); !reflect.DeepEqual(res.Doc, want) {
				got, _ := json.Marshal(res.Doc)
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			// A PATCH result is a document: normalising it again changes nothing.
			again, err := rt.Normalize(deepCopyMap(res.Doc))
			if err != nil || !reflect.DeepEqual(again, res.Doc) {
				t.Fatalf("result does not re-normalise: %v %v", again, err)
			}
		})
	}
}

func TestApplyUserErrors(t *testing.T) {
	rt := registry(t).ResourceType("User")
	for _, tc := range []struct {
		name, ops, scimType, detail string
	}{
		{"pathless remove", `{"op":"remove"}`, scimerr.NoTarget, "operation 1 (remove without path)"},
		{"pathless add with a string", `{"op":"add","value":"x"}`, scimerr.InvalidValue, "must be an object"},
		{"id is read-only", `{"op":"replace","path":"id","value":"x"}`, scimerr.Mutability, `"id" is read-only`},
		{"meta is read-only", `{"op":"replace","path":"meta.lastModified","value":"2026-01-01T00:00:00Z"}`, scimerr.Mutability, "read-only"},
		{"groups are read-only", `{"op":"add","path":"groups","value":[{"value":"g"}]}`, scimerr.Mutability, "read-only"},
		{"manager displayName is read-only", `{"op":"replace","path":"manager.displayName","value":"x"}`, scimerr.Mutability, "read-only"},
		{"active not boolean", `{"op":"replace","path":"active","value":"maybe"}`, scimerr.InvalidValue, `"active"`},
		{"bad value in pathless object", `{"op":"replace","value":{"active":"x"}}`, scimerr.InvalidValue, `"active"`},
		{"sub of a simple attribute", `{"op":"replace","path":"userName.x","value":"x"}`, scimerr.InvalidPath, "no sub-attributes"},
		{"filter on a simple attribute", `{"op":"replace","path":"userName[value eq \"x\"]","value":"x"}`, scimerr.InvalidPath, "not a complex attribute"},
		{"bad path syntax", `{"op":"replace","path":"emails[type eq","value":"x"}`, scimerr.InvalidPath, "offset"},
		{"filter without eq terms cannot create", `{"op":"add","path":"emails[type co \"zz\"].value","value":"x"}`, scimerr.NoTarget, "create"},
		{"or filter cannot create", `{"op":"add","path":"emails[type eq \"a\" or type eq \"b\"].value","value":"x"}`, scimerr.NoTarget, "create"},
		{"invalid filter comparison", `{"op":"add","path":"emails[primary gt true].value","value":"x"}`, scimerr.InvalidFilter, "boolean"},
		{"remove the required userName", `{"op":"remove","path":"userName"}`, scimerr.InvalidValue, "userName"},
		{"clear the required userName", `{"op":"replace","path":"userName","value":""}`, scimerr.InvalidValue, "userName"},
		{"two managers", `{"op":"add","path":"manager","value":[{"value":"a"},{"value":"b"}]}`, scimerr.InvalidValue, "one manager"},
		{"filtered path with an array of two", `{"op":"replace","path":"emails[type eq \"work\"]","value":[{"value":"a"},{"value":"b"}]}`, scimerr.InvalidValue, "one object"},
		{"empty attribute after the core URN", `{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:","value":"x"}`, scimerr.InvalidPath, "names no attribute after the schema URN"},
		{"empty attribute after the enterprise URN", `{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"}`, scimerr.InvalidPath, "names no attribute"},
		{"second op fails: nothing applied", `{"op":"replace","path":"title","value":"x"},{"op":"replace","path":"id","value":"y"}`, scimerr.Mutability, "operation 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := ParseRequest([]byte(ops(tc.ops)))
			if err != nil {
				t.Fatal(err)
			}
			doc := jsonDoc(t, baseUser)
			res, err := Apply(rt, doc, parsed)
			e, ok := scimerr.As(err)
			if !ok || e.Status != 400 || e.ScimType != tc.scimType {
				t.Fatalf("err = %v (res %v), want 400 %s", err, res, tc.scimType)
			}
			if !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("detail %q lacks %q", e.Detail, tc.detail)
			}
			if !reflect.DeepEqual(doc, jsonDoc(t, baseUser)) {
				t.Fatal("a failed Apply mutated the document")
			}
		})
	}
}

func TestApplyGroup(t *testing.T) {
	rt := registry(t).ResourceType("Group")
	m := func(ids ...string) []store.Member {
		out := []store.Member{}
		for _, id := range ids {
			out = append(out, store.Member{Value: id})
		}
		return out
	}
	for _, tc := range []struct {
		name, ops, want string
		members         []store.MemberOp
	}{
		{
			name: "rename (legacy)",
			ops:  `{"op":"Replace","path":"displayName","value":"Sales EMEA"}`,
			want: `{"displayName":"Sales EMEA","externalId":"8aa1"}`,
		},
		{
			name: "pathless replace (flag and validator)",
			ops:  `{"op":"replace","value":{"displayName":"S2","externalId":"e2"}}`,
			want: `{"displayName":"S2","externalId":"e2"}`,
		},
		{
			name:    "add members, batched, with $ref null, duplicates dropped",
			ops:     `{"op":"Add","path":"members","value":[{"$ref":null,"value":"9f0c"},{"value":"77aa"},{"value":"9f0c"}]}`,
			members: []store.MemberOp{{Kind: "add", Members: m("9f0c", "77aa")}},
		},
		{
			name:    "legacy remove: path members plus a value list removes only those",
			ops:     `{"op":"Remove","path":"members","value":[{"value":"9f0c"}]}`,
			members: []store.MemberOp{{Kind: "remove", Members: m("9f0c")}},
		},
		{
			name:    "compliant remove: members[value eq id]",
			ops:     `{"op":"remove","path":"members[value eq \"9f0c\"]"}`,
			members: []store.MemberOp{{Kind: "remove", Members: m("9f0c")}},
		},
		{
			name:    "remove members without a value clears",
			ops:     `{"op":"remove","path":"members"}`,
			members: []store.MemberOp{{Kind: "clear"}},
		},
		{
			name:    "remove members with an empty list removes nothing",
			ops:     `{"op":"remove","path":"members","value":[]}`,
			members: nil,
		},
		{
			name:    "replace members: clear then add",
			ops:     `{"op":"replace","path":"members","value":[{"value":"a"},{"value":"b","display":"B","type":"User"}]}`,
			members: []store.MemberOp{{Kind: "clear"}, {Kind: "add", Members: []store.Member{{Value: "a"}, {Value: "b", Display: "B", Type: "User"}}}},
		},
		{
			name:    "add and remove of the same member in one request keep their order",
			ops:     `{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"},{"op":"replace","path":"displayName","value":"X"}`,
			want:    `{"displayName":"X","externalId":"8aa1"}`,
			members: []store.MemberOp{{Kind: "add", Members: m("a")}, {Kind: "remove", Members: m("a")}},
		},
		{
			name:    "pathless add of members and or-joined value filters",
			ops:     `{"op":"add","value":{"members":[{"value":"a"}]}},{"op":"remove","path":"members[value eq \"b\" or value eq \"c\"]"}`,
			members: []store.MemberOp{{Kind: "add", Members: m("a")}, {Kind: "remove", Members: m("b", "c")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parsed, err := ParseRequest([]byte(ops(tc.ops)))
			if err != nil {
				t.Fatal(err)
			}
			doc := jsonDoc(t, `{"displayName":"Sales","externalId":"8aa1"}`)
			res, err := Apply(rt, doc, parsed)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = `{"displayName":"Sales","externalId":"8aa1"}`
			}
			if !reflect.DeepEqual(res.Doc, jsonDoc(t, want)) {
				t.Fatalf("doc = %v, want %s", res.Doc, want)
			}
			if _, ok := res.Doc["members"]; ok {
				t.Fatal("members leaked into the document")
			}
			if !reflect.DeepEqual(res.Members, tc.members) {
				t.Fatalf("members = %+v, want %+v", res.Members, tc.members)
			}
		})
	}
}

func TestApplyGroupErrors(t *testing.T) {
	rt := registry(t).ResourceType("Group")
	for _, tc := range []struct{ ops, scimType, detail string }{
		{`{"op":"remove","path":"members[display eq \"x\"]"}`, scimerr.InvalidFilter, "only members[value eq"},
		{`{"op":"remove","path":"members[value co \"x\"]"}`, scimerr.InvalidFilter, "only members[value eq"},
		{`{"op":"remove","path":"members[value eq \"a\" and type eq \"User\"]"}`, scimerr.InvalidFilter, "only members[value eq"},
		{`{"op":"replace","path":"members[value eq \"a\"].display","value":"x"}`, scimerr.Mutability, "cannot be changed"},
		{`{"op":"add","path":"members","value":[{"display":"no id"}]}`, scimerr.InvalidValue, `no "value"`},
		{`{"op":"add","path":"members","value":[42]}`, scimerr.InvalidValue, "must be an object"},
		{`{"op":"remove","path":"displayName"}`, scimerr.InvalidValue, "displayName"},
	} {
		parsed, err := ParseRequest([]byte(ops(tc.ops)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Apply(rt, jsonDoc(t, `{"displayName":"Sales"}`), parsed)
		e, ok := scimerr.As(err)
		if !ok || e.ScimType != tc.scimType || !strings.Contains(e.Detail, tc.detail) {
			t.Errorf("%s: err = %v, want %s containing %q", tc.ops, err, tc.scimType, tc.detail)
		}
	}
}

func TestParseRequest(t *testing.T) {
	got, err := ParseRequest([]byte(`{"operations":[{"OP":"Replace","Path":" active ","VALUE":"False"},{"op":"ADD","value":{"a":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Operation{{Op: "replace", Path: "active", Value: "False"}, {Op: "add", Value: map[string]any{"a": json.Number("1")}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, tc := range []struct{ body, scimType, detail string }{
		{``, scimerr.InvalidSyntax, "not a JSON object"},
		{`[]`, scimerr.InvalidSyntax, "not a JSON object"},
		{`null`, scimerr.InvalidSyntax, "not a JSON object"},
		{`{}`, scimerr.InvalidSyntax, `needs "Operations"`},
		{`{"Operations":[]}`, scimerr.InvalidSyntax, "is empty"},
		{`{"Operations":{}}`, scimerr.InvalidSyntax, "must be an array"},
		{`{"Operations":["x"]}`, scimerr.InvalidSyntax, "operation 1 is not a JSON object"},
		{`{"Operations":[{"op":"move","path":"a"}]}`, scimerr.InvalidSyntax, `op "move"`},
		{`{"Operations":[{"path":"a"}]}`, scimerr.InvalidSyntax, `"op" must be`},
		{`{"Operations":[{"op":"add","path":7}]}`, scimerr.InvalidSyntax, `"path" must be a string`},
		{`{"Operations":[{"op":"add","path":"a","value":1}]} {}`, scimerr.InvalidSyntax, "data after"},
		{`{"Operations":[` + strings.Repeat(`{"op":"add"},`, MaxOperations) + `{"op":"add"}]}`, scimerr.TooMany, "at most"},
	} {
		_, err := ParseRequest([]byte(tc.body))
		e, ok := scimerr.As(err)
		if !ok || e.Status != 400 || e.ScimType != tc.scimType || !strings.Contains(e.Detail, tc.detail) {
			t.Errorf("ParseRequest(%.50s) err = %v, want %s containing %q", tc.body, err, tc.scimType, tc.detail)
		}
	}
}

func TestParseMembers(t *testing.T) {
	got, err := ParseMembers([]any{"a", map[string]any{"Value": "b", "Display": "B"}, nil, "a"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Member{{Value: "a"}, {Value: "b", Display: "B"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if _, err := ParseMembers(map[string]any{"value": true}); err == nil {
		t.Fatal("a boolean member id must be refused")
	}
}
