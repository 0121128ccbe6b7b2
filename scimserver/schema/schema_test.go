package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

const acmeURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

func testRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(&config.Tenant{Groups: true, Extensions: []config.Extension{{
		URN: acmeURN,
		Attributes: []config.Attribute{
			{Name: "badge", Type: "integer"},
			{Name: "contractor", Type: "boolean"},
			{Name: "hired", Type: "dateTime"},
			{Name: "tags", Type: "string", MultiValued: true},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestRegistry(t *testing.T) {
	r := testRegistry(t)
	if r.ResourceType("user") == nil || r.ResourceType("Group") == nil {
		t.Fatal("User and Group must be served")
	}
	if got := len(r.Schemas()); got != 4 {
		t.Fatalf("schemas = %d, want 4 (User, enterprise, acme, Group)", got)
	}
	if r.Schema(strings.ToUpper(EnterpriseUserURN)) == nil {
		t.Fatal("Schema lookup must be case-insensitive")
	}
	noGroups, err := NewRegistry(&config.Tenant{})
	if err != nil {
		t.Fatal(err)
	}
	if noGroups.ResourceType("Group") != nil || noGroups.Schema(GroupURN) != nil {
		t.Fatal("Group served although cfg.Groups is false")
	}
	if _, err := NewRegistry(&config.Tenant{Extensions: []config.Extension{{URN: EnterpriseUserURN}}}); err == nil {
		t.Fatal("an extension reusing the enterprise URN must be refused")
	}
}

func TestSplitPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Path
	}{
		{"userName", Path{Attr: "userName"}},
		{"name.givenName", Path{Attr: "name", Sub: "givenName"}},
		{EnterpriseUserURN + ":manager", Path{URN: EnterpriseUserURN, Attr: "manager"}},
		{EnterpriseUserURN + ":manager.value", Path{URN: EnterpriseUserURN, Attr: "manager", Sub: "value"}},
		{strings.ToLower(EnterpriseUserURN) + ":department", Path{URN: strings.ToLower(EnterpriseUserURN), Attr: "department"}},
		{EnterpriseUserURN, Path{URN: EnterpriseUserURN}},
		{UserURN + ":name.familyName", Path{URN: UserURN, Attr: "name", Sub: "familyName"}},
		{"urn:x:custom:1.5:User:a.b", Path{URN: "urn:x:custom:1.5:User", Attr: "a", Sub: "b"}},
	} {
		if got := SplitPath(tc.in); got != tc.want {
			t.Errorf("SplitPath(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	rt := testRegistry(t).ResourceType("User")
	for _, tc := range []struct {
		path          string
		ext, attr, sb string
		errType       string
	}{
		{path: "userName", attr: "userName"},
		{path: "USERNAME", attr: "userName"},
		{path: "name.GIVENNAME", attr: "name", sb: "givenName"},
		{path: "emails.value", attr: "emails", sb: "value"},
		{path: "id", attr: "id"},
		{path: "meta.lastModified", attr: "meta", sb: "lastModified"},
		{path: UserURN + ":userName", attr: "userName"},
		{path: EnterpriseUserURN + ":manager", ext: EnterpriseUserURN, attr: "manager"},
		{path: EnterpriseUserURN + ":manager.value", ext: EnterpriseUserURN, attr: "manager", sb: "value"},
		{path: "manager", ext: EnterpriseUserURN, attr: "manager"},
		{path: "department", ext: EnterpriseUserURN, attr: "department"},
		{path: acmeURN + ":Badge", ext: acmeURN, attr: "badge"},
		{path: "nope", errType: scimerr.InvalidPath},
		{path: "userName.x", errType: scimerr.InvalidPath},
		{path: "name.nope", errType: scimerr.InvalidPath},
		{path: "urn:nope:2.0:User:userName", errType: scimerr.InvalidPath},
		{path: GroupURN + ":displayName", errType: scimerr.InvalidPath},
	} {
		ext, a, sub, err := rt.Lookup(rt.SplitPath(tc.path))
		if tc.errType != "" {
			e, ok := scimerr.As(err)
			if !ok || e.ScimType != tc.errType || e.Status != 400 {
				t.Errorf("Lookup(%q) err = %v, want 400 %s", tc.path, err, tc.errType)
			}
			continue
		}
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.path, err)
			continue
		}
		sb := ""
		if sub != nil {
			sb = sub.Name
		}
		if ext != tc.ext || a.Name != tc.attr || sb != tc.sb {
			t.Errorf("Lookup(%q) = %q %q %q, want %q %q %q", tc.path, ext, a.Name, sb, tc.ext, tc.attr, tc.sb)
		}
	}
}

func TestNormalizeUser(t *testing.T) {
	rt := testRegistry(t).ResourceType("User")
	for _, tc := range []struct {
		name string
		body string
		want string // expected document as JSON, or "" when an error is expected
		err  string // expected scimType
	}{
		{
			name: "contract 2.4 create body",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			  "externalId":"jdoe","userName":"jdoe@contoso.com","active":true,"displayName":"Jane Doe","title":"Engineer","preferredLanguage":"en-US",
			  "emails":[{"primary":true,"type":"work","value":"jdoe@contoso.com"}],
			  "name":{"formatted":"Jane Doe","familyName":"Doe","givenName":"Jane"},
			  "addresses":[{"type":"work","primary":true,"formatted":"Bldg 4","streetAddress":"1 Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US"}],
			  "phoneNumbers":[{"type":"work","value":"+1 425 555 0100"},{"type":"mobile","value":"+1 425 555 0101"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"R&D"},
			  "roles":[],"meta":{"resourceType":"User"}}`,
			want: `{"externalId":"jdoe","userName":"jdoe@contoso.com","active":true,"displayName":"Jane Doe","title":"Engineer","preferredLanguage":"en-US",
			  "emails":[{"primary":true,"type":"work","value":"jdoe@contoso.com"}],
			  "name":{"formatted":"Jane Doe","familyName":"Doe","givenName":"Jane"},
			  "addresses":[{"type":"work","primary":true,"formatted":"Bldg 4","streetAddress":"1 Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US"}],
			  "phoneNumbers":[{"type":"work","value":"+1 425 555 0100"},{"type":"mobile","value":"+1 425 555 0101"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"R&D"}}`,
		},
		{
			name: "nulls, misspelt schema URN, string booleans, manager string",
			body: `{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],"userName":"a","addresses":null,"manager":null,
			  "active":"False","nickName":"","emails":[{"value":"a@x","primary":"True"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"26118915-6090-4d15-b8b7-b1aaad3d5a1f"}}`,
			want: `{"userName":"a","active":false,"emails":[{"value":"a@x","primary":true}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"26118915-6090-4d15-b8b7-b1aaad3d5a1f"}}}`,
		},
		{
			name: "validator create: roles primary True, manager object with displayName, timezone, profileUrl",
			body: `{"userName":"v","timezone":"Asia/Tokyo","profileUrl":"https://x/p","roles":[{"primary":"True","display":"Admin","value":"admin","type":"WindowsAzureActiveDirectoryRole"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1","displayName":"Boss","$ref":"../Users/m1"}}}`,
			want: `{"userName":"v","timezone":"Asia/Tokyo","profileUrl":"https://x/p","roles":[{"primary":true,"display":"Admin","value":"admin","type":"WindowsAzureActiveDirectoryRole"}],
			  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`,
		},
		{
			name: "manager as array, and {value:\"\"} means absent",
			body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":[{"value":"m2","$ref":"https://x/Users/m2"}]}}`,
			want: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m2"}}}`,
		},
		{
			name: "empty manager object leaves no empty extension behind",
			body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":""}}}`,
			want: `{"userName":"a"}`,
		},
		{
			name: "read-only and unknown attributes dropped, case canonicalised",
			body: `{"UserName":"a","id":"x","groups":[{"value":"g"}],"favouriteColour":"red","NAME":{"GivenName":"J","nick":"x"},"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/User":{"x":1}}`,
			want: `{"userName":"a","name":{"givenName":"J"}}`,
		},
		{
			name: "dotted and URN keys at the top level",
			body: `{"userName":"a","name.familyName":"Doe","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ops"}`,
			want: `{"userName":"a","name":{"familyName":"Doe"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}`,
		},
		{
			name: "roles as JSON strings (contract 2.10)",
			body: `{"userName":"a","roles":[{"value":"{\"id\":\"06b07648\",\"value\":\"25\",\"displayName\":\"Role1234\"}"},"{\"value\":\"26\",\"primary\":\"true\"}",{"value":"{not json"}]}`,
			want: `{"userName":"a","roles":[{"value":"25","display":"Role1234"},{"value":"26","primary":true},{"value":"{not json"}]}`,
		},
		{
			name: "custom extension types",
			body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":"42","contractor":"TRUE","hired":"2026-01-05T10:00:00Z","tags":"solo"}}`,
			want: `{"userName":"a","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":42,"contractor":true,"hired":"2026-01-05T10:00:00Z","tags":["solo"]}}`,
		},
		{
			name: "single object for a multi-valued attribute is a list of one (OneLogin)",
			body: `{"userName":"a","emails":{"value":"a@x","type":"work"}}`,
			want: `{"userName":"a","emails":[{"value":"a@x","type":"work"}]}`,
		},
		{
			name: "inner spaces and limits reached exactly are fine",
			body: `{"userName":"` + strings.Repeat("b", MaxIdentifierBytes) + `","displayName":" Jane  Doe ","title":"` + strings.Repeat("t", MaxStringBytes) + `"}`,
			want: `{"userName":"` + strings.Repeat("b", MaxIdentifierBytes) + `","displayName":" Jane  Doe ","title":"` + strings.Repeat("t", MaxStringBytes) + `"}`,
		},
		{name: "number for a string attribute", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":701984}}`, err: scimerr.InvalidValue},
		{name: "userName number", body: `{"userName":12345}`, err: scimerr.InvalidValue},
		{name: "userName blank", body: `{"userName":" \t "}`, err: scimerr.InvalidValue},
		{name: "userName leading space", body: `{"userName":" bob"}`, err: scimerr.InvalidValue},
		{name: "userName trailing no-break space", body: `{"userName":"bob\u00a0"}`, err: scimerr.InvalidValue},
		{name: "userName over 1 KiB", body: `{"userName":"` + strings.Repeat("b", MaxIdentifierBytes+1) + `"}`, err: scimerr.InvalidValue},
		{name: "externalId over 1 KiB", body: `{"userName":"a","externalId":"` + strings.Repeat("é", MaxIdentifierBytes/2+1) + `"}`, err: scimerr.InvalidValue},
		{name: "title over 16 KiB", body: `{"userName":"a","title":"` + strings.Repeat("t", MaxStringBytes+1) + `"}`, err: scimerr.InvalidValue},
		{name: "sub-attribute over 16 KiB", body: `{"userName":"a","emails":[{"value":"` + strings.Repeat("e", MaxStringBytes+1) + `"}]}`, err: scimerr.InvalidValue},
		{name: "bare string for a multi-valued attribute", body: `{"userName":"a","emails":"x@y"}`, err: scimerr.InvalidValue},
		{name: "bare string element of a multi-valued attribute", body: `{"userName":"a","emails":["x@y"]}`, err: scimerr.InvalidValue},
		{name: "bare string for roles", body: `{"userName":"a","roles":"Admin"}`, err: scimerr.InvalidValue},
		{name: "missing userName", body: `{"displayName":"x"}`, err: scimerr.InvalidValue},
		{name: "userName empty", body: `{"userName":""}`, err: scimerr.InvalidValue},
		{name: "active not boolean", body: `{"userName":"a","active":"maybe"}`, err: scimerr.InvalidValue},
		{name: "active number", body: `{"userName":"a","active":1}`, err: scimerr.InvalidValue},
		{name: "userName object", body: `{"userName":{"x":1}}`, err: scimerr.InvalidValue},
		{name: "name array", body: `{"userName":"a","name":["x"]}`, err: scimerr.InvalidValue},
		{name: "extension not object", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`, err: scimerr.InvalidValue},
		{name: "bad integer", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":"4.5"}}`, err: scimerr.InvalidValue},
		{name: "bad dateTime", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"hired":"yesterday"}}`, err: scimerr.InvalidValue},
		{name: "manager value and managerId disagree", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"a","managerId":"b"}}}`, err: scimerr.InvalidValue},
		{name: "two managers", body: `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":[{"value":"a"},{"value":"b"}]}}`, err: scimerr.InvalidValue},
		{name: "primary number", body: `{"userName":"a","emails":[{"value":"x","primary":1}]}`, err: scimerr.InvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rt.Normalize(decode(t, tc.body))
			if tc.err != "" {
				e, ok := scimerr.As(err)
				if !ok || e.ScimType != tc.err || e.Status != 400 {
					t.Fatalf("err = %v, want 400 %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := decode(t, tc.want)
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.Marshal(got)
				t.Fatalf("got  %s\nwant %s", gj, tc.want)
			}
		})
	}
}

func TestNormalizeErrorNamesAttribute(t *testing.T) {
	rt := testRegistry(t).ResourceType("User")
	_, err := rt.Normalize(decode(t, `{"userName":"a","emails":[{"value":"x"},{"value":"y","primary":"yes"}]}`))
	if err == nil || !strings.Contains(err.Error(), `emails[1].primary`) {
		t.Fatalf("err = %v, want it to name emails[1].primary", err)
	}
}

func TestNormalizeGroup(t *testing.T) {
	rt := testRegistry(t).ResourceType("Group")
	got, err := rt.Normalize(decode(t, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
	  "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"Sales","members":[{"value":"u1"}],"meta":{"resourceType":"Group"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Sales"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (members are stored apart)", got, want)
	}
	for _, body := range []string{`{"externalId":"x"}`, `{"displayName":"   "}`, `{"displayName":"Sales "}`, `{"displayName":7}`} {
		if _, err := rt.Normalize(decode(t, body)); err == nil {
			t.Fatalf("group %s must be refused", body)
		}
	}
	// An enterprise extension sent to /Groups is not served there: dropped.
	got, err = rt.Normalize(decode(t, `{"displayName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"x"}}`))
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestNormalizeValue(t *testing.T) {
	rt := testRegistry(t).ResourceType("User")
	mgr := EnterpriseUserURN + ":manager"
	for _, tc := range []struct {
		path string
		in   string
		want string // "null" = absent
	}{
		{mgr, `"1a2b"`, `{"value":"1a2b"}`},
		{mgr, `""`, `null`},
		{mgr, `{"value":""}`, `null`},
		{mgr, `{"value":"x"}`, `{"value":"x"}`},
		{mgr, `[{"$ref":"https://x/Users/1a2b","value":"1a2b"}]`, `{"value":"1a2b"}`},
		{mgr, `{"managerId":"m9"}`, `{"value":"m9"}`},
		{mgr, `{"ManagerID":"m9","value":"m9"}`, `{"value":"m9"}`},
		{mgr, `{"managerId":""}`, `null`},
		{mgr, `{}`, `null`},
		{mgr + ".value", `"z"`, `"z"`},
		{"active", `"False"`, `false`},
		{"active", `"true"`, `true`},
		{"emails", `{"value":"a@b","type":"work"}`, `[{"value":"a@b","type":"work"}]`},
		{"emails.primary", `"True"`, `true`},
		{"roles", `[{"value":"{\"id\":\"06b\",\"value\":\"25\",\"displayName\":\"R\"}"}]`, `[{"value":"25","display":"R"}]`},
		{"displayName", `null`, `null`},
	} {
		_, a, sub, err := rt.Lookup(rt.SplitPath(tc.path))
		if err != nil {
			t.Fatal(err)
		}
		ext := ""
		if strings.HasPrefix(tc.path, "urn:") {
			ext = EnterpriseUserURN
		}
		got, err := rt.NormalizeValue(ext, a, sub, decodeAny(t, tc.in))
		if err != nil {
			t.Errorf("%s %s: %v", tc.path, tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, decodeAny(t, tc.want)) {
			t.Errorf("%s %s = %#v, want %s", tc.path, tc.in, got, tc.want)
		}
	}
}

func decodeAny(t testing.TB, s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDiscoveryJSON(t *testing.T) {
	r := testRegistry(t)
	var check func(path string, v any)
	check = func(path string, v any) {
		switch t2 := v.(type) {
		case nil:
			t.Errorf("%s is null", path)
		case map[string]any:
			for k, x := range t2 {
				check(path+"."+k, x)
			}
		case []any:
			for i, x := range t2 {
				check(path+"["+string(rune('0'+i%10))+"]", x)
			}
		}
	}
	for _, s := range r.Schemas() {
		j := SchemaJSON(s, "https://scim.example.com/scim/v2/")
		check(s.ID, j)
		if _, err := json.Marshal(j); err != nil {
			t.Fatal(err)
		}
	}
	u := SchemaJSON(r.Schema(UserURN), "")
	b, _ := json.Marshal(u)
	for _, want := range []string{`"mutability":"readWrite"`, `"mutability":"writeOnly"`, `"returned":"never"`, `"uniqueness":"server"`, `"name":"externalId"`, `"name":"x509Certificates"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("User schema JSON lacks %s", want)
		}
	}
	if strings.Contains(string(b), `"location"`) {
		t.Error("location rendered without a base URL")
	}
	for _, rt := range r.ResourceTypes() {
		j := ResourceTypeJSON(rt, "https://x/scim/v2")
		check(rt.Name, j)
		if j["meta"].(map[string]any)["location"] != "https://x/scim/v2/ResourceTypes/"+rt.Name {
			t.Errorf("bad location %v", j["meta"])
		}
	}
}
