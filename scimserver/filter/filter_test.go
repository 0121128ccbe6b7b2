package filter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// sexpr renders an AST compactly so expectations read like the grammar.
func sexpr(e Expr) string {
	switch x := e.(type) {
	case *Compare:
		if x.Op == "pr" {
			return fmt.Sprintf("(pr %s)", x.Path)
		}
		v := "null"
		switch t := x.Value.(type) {
		case string:
			v = fmt.Sprintf("%q", t)
		case bool:
			v = fmt.Sprint(t)
		case json.Number:
			v = "#" + string(t)
		}
		return fmt.Sprintf("(%s %s %s)", x.Op, x.Path, v)
	case *Logical:
		return fmt.Sprintf("(%s %s %s)", x.Op, sexpr(x.Left), sexpr(x.Right))
	case *Not:
		return fmt.Sprintf("(not %s)", sexpr(x.X))
	case *ValuePath:
		return fmt.Sprintf("%s[%s]", x.Attr, sexpr(x.Filter))
	}
	return fmt.Sprintf("?%T", e)
}

const ent = schema.EnterpriseUserURN

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`userName eq "bjensen"`, `(eq userName "bjensen")`},
		{`USERNAME EQ "x"`, `(eq USERNAME "x")`},
		{`userName Eq "7b1e6a0c-3f0e-4d0e-9c55-2f1d8b6e9a11"`, `(eq userName "7b1e6a0c-3f0e-4d0e-9c55-2f1d8b6e9a11")`},
		{`name.familyName co "O'Malley"`, `(co name.familyName "O'Malley")`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`, `(sw urn:ietf:params:scim:schemas:core:2.0:User:userName "J")`},
		{ent + `:manager.value eq "m"`, `(eq ` + ent + `:manager.value "m")`},
		{`title pr`, `(pr title)`},
		{`title PR`, `(pr title)`},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, `(gt meta.lastModified "2011-05-13T04:42:34Z")`},
		{`title pr and userType eq "Employee"`, `(and (pr title) (eq userType "Employee"))`},
		{`a eq 1 or b eq 2 and c eq 3`, `(or (eq a #1) (and (eq b #2) (eq c #3)))`},
		{`a eq 1 and b eq 2 or c eq 3`, `(or (and (eq a #1) (eq b #2)) (eq c #3))`},
		{`a eq 1 AND b eq 2 And c eq 3`, `(and (and (eq a #1) (eq b #2)) (eq c #3))`},
		{`not a eq 1 and b eq 2`, `(and (not (eq a #1)) (eq b #2))`},
		{`not (a eq 1 and b eq 2)`, `(not (and (eq a #1) (eq b #2)))`},
		{`NOT(a eq 1)`, `(not (eq a #1))`},
		{`(a eq 1 or b eq 2) and c eq 3`, `(and (or (eq a #1) (eq b #2)) (eq c #3))`},
		{`((a pr))`, `(pr a)`},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
			`(and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))`},
		{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
			`(or emails[(and (eq type "work") (co value "@example.com"))] ims[(and (eq type "xmpp") (co value "@foo.com"))])`},
		{`emails[type eq "work"].value eq "x@y"`, `emails[(and (eq type "work") (eq value "x@y"))]`},
		{`emails[type eq "work"].value pr`, `emails[(and (eq type "work") (pr value))]`},
		{`members[value eq "u1"] and displayName eq "g"`, `(and members[(eq value "u1")] (eq displayName "g"))`},
		{`userName eq "a\"b\\c\/\u00e9\n\t"`, `(eq userName "a\"b\\c/é\n\t")`},
		{`userName eq "\ud83d\ude00"`, `(eq userName "😀")`},
		{`userName eq "\ud83d"`, `(eq userName "�")`},
		{`userName eq ""`, `(eq userName "")`},
		{`a eq true or b eq FALSE or c eq null`, `(or (or (eq a true) (eq b false)) (eq c null))`},
		{`a gt 1.5e3 and b lt -3`, `(and (gt a #1.5e3) (lt b #-3))`},
		{`externalId eq jyoung`, `(eq externalId "jyoung")`},
		{`userName eq jdoe@contoso.com`, `(eq userName "jdoe@contoso.com")`},
		{`a eq 01`, `(eq a "01")`},
		{`id eq "9f0c" and manager eq "1a2b"`, `(and (eq id "9f0c") (eq manager "1a2b"))`},
		{"  userName\teq\n\"x\"  ", `(eq userName "x")`},
		{`userName eq"x"`, `(eq userName "x")`},
		{`members.$ref pr`, `(pr members.$ref)`},
	} {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if got := sexpr(e); got != tc.want {
			t.Errorf("Parse(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, detail string }{
		{``, "empty filter"},
		{`   `, "empty filter"},
		{`userName`, "expected an operator"},
		{`userName eq`, "expected a value"},
		{`userName foo "x"`, `unknown operator "foo"`},
		{`userName eq "x" and`, "expected an attribute path"},
		{`userName eq "x" userName`, `unexpected "userName"`},
		{`(userName eq "x"`, `expected ")" to close the "(" at offset 0`},
		{`userName eq "x")`, `unexpected ")"`},
		{`emails[type eq "work"`, `expected "]" to close the "[" at offset 6`},
		{`emails[type[value eq 1] eq 1]`, "cannot be nested"},
		{`emails[emails.type eq "w"]`, "name a sub-attribute"},
		{`name.givenName[x eq 1]`, "must follow an attribute name"},
		{`"x" eq "y"`, "expected an attribute path"},
		{`userName eq "unterminated`, "unterminated string (at offset 12"},
		{`userName eq "bad \q"`, `invalid escape \q`},
		{`a eq "\u12"`, `invalid \u escape`},
		{`1abc eq "x"`, "not an attribute path"},
		{`a.b.c eq "x"`, "bad sub-attribute"},
		{`emails[type eq "w"].value.x eq 1`, "not a sub-attribute name"},
		{`emails[type eq "w"].value`, "expected an operator"},
		{ent + ` eq "x"`, "names a schema"},
		{`not`, "expected an attribute path"},
		{`a eq (`, "expected a value"},
		{strings.Repeat("(", 100) + `a pr` + strings.Repeat(")", 100), "nested deeper than 32"},
		{strings.Repeat("not ", 100) + `a pr`, "nested deeper than 32"},
		{`a eq "` + strings.Repeat("x", MaxLength) + `"`, "longer than"},
	} {
		_, err := Parse(tc.in)
		e, ok := scimerr.As(err)
		if !ok || e.Status != 400 || e.ScimType != scimerr.InvalidFilter {
			t.Errorf("Parse(%.40s) err = %v, want 400 invalidFilter", tc.in, err)
			continue
		}
		if !strings.Contains(e.Detail, tc.detail) {
			t.Errorf("Parse(%.40s) detail %q lacks %q", tc.in, e.Detail, tc.detail)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	_, err := Parse(`userName eq "x" and title zz "y"`)
	if err == nil || !strings.Contains(err.Error(), "offset 26") {
		t.Fatalf("err = %v, want offset 26 (the bad operator)", err)
	}
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct{ in, path, filter string }{
		{`userName`, `userName`, ``},
		{`name.givenName`, `name.givenName`, ``},
		{ent + `:manager`, ent + `:manager`, ``},
		{ent + `:manager.value`, ent + `:manager.value`, ``},
		{ent, ent, ``},
		{`emails[type eq "work"]`, `emails`, `(eq type "work")`},
		{`emails[type eq "work"].value`, `emails.value`, `(eq type "work")`},
		{`addresses[type eq "work"].postalCode`, `addresses.postalCode`, `(eq type "work")`},
		{`roles[primary eq "True"].display`, `roles.display`, `(eq primary "True")`},
		{`members[value eq "9f0c"]`, `members`, `(eq value "9f0c")`},
		{`manager[value eq "1a2b"]`, `manager`, `(eq value "1a2b")`},
		{ent + `:manager[value eq "1"]`, ent + `:manager`, `(eq value "1")`},
		{`emails[type eq "work" and primary eq true].value`, `emails.value`, `(and (eq type "work") (eq primary true))`},
	} {
		ap, err := ParsePath(tc.in)
		if err != nil {
			t.Errorf("ParsePath(%s): %v", tc.in, err)
			continue
		}
		f := ""
		if ap.Filter != nil {
			f = sexpr(ap.Filter)
		}
		if ap.Path.String() != tc.path || f != tc.filter {
			t.Errorf("ParsePath(%s) = %s %s, want %s %s", tc.in, ap.Path, f, tc.path, tc.filter)
		}
	}
	for _, in := range []string{``, `[x eq 1]`, `emails[`, `emails[type eq "w"] x`, `emails[type eq "w"].`, `a b`, `"a"`, `name.givenName[x eq 1]`, `emails[type eq`, `1x`} {
		_, err := ParsePath(in)
		if e, ok := scimerr.As(err); !ok || e.ScimType != scimerr.InvalidPath || e.Status != 400 {
			t.Errorf("ParsePath(%q) err = %v, want 400 invalidPath", in, err)
		}
	}
}

func registry(t testing.TB) *schema.Registry {
	r, err := schema.NewRegistry(&config.Tenant{Groups: true, Extensions: []config.Extension{{
		URN:        "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
		Attributes: []config.Attribute{{Name: "badge", Type: "integer"}, {Name: "code", Type: "string", CaseExact: true}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func docOf(t testing.TB, s string) map[string]any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const sampleUser = `{"id":"AbC","userName":"Jdoe@Contoso.com","externalId":"jdoe","active":false,
 "name":{"familyName":"Doe","givenName":"Jane"},
 "emails":[{"value":"jdoe@contoso.com","type":"work","primary":true},{"value":"j@home.org","type":"home"}],
 "roles":[{"value":"admin","primary":true},{"value":"reader","primary":false}],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"},"department":"R&D"},
 "urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":42,"code":"XyZ"},
 "meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","lastModified":"2026-01-05T10:00:00Z"}}`

func TestMatchUser(t *testing.T) {
	rt := registry(t).ResourceType("User")
	doc := docOf(t, sampleUser)
	for _, tc := range []struct {
		f    string
		want bool
	}{
		{`userName eq "jdoe@contoso.com"`, true},
		{`USERNAME eq "JDOE@CONTOSO.COM"`, true},
		{`userName eq "7b1e6a0c-3f0e-4d0e-9c55-2f1d8b6e9a11"`, false},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jdoe@contoso.com"`, true},
		{`id eq "AbC"`, true},
		{`id eq "abc"`, false},
		{`externalId eq "jdoe"`, true},
		{`externalId eq "JDOE"`, false},
		{`emails[type eq "work"].value eq "jdoe@contoso.com"`, true},
		{`emails[type eq "home"].value eq "jdoe@contoso.com"`, false},
		{`emails[type eq "work" and value co "@contoso.com"]`, true},
		{`emails[type eq "work" and value co "@home.org"]`, false},
		{`emails.value co "home"`, true},
		{`emails co "@CONTOSO"`, true},
		{`emails.value ew ".org"`, true},
		{`emails.value sw "x"`, false},
		{`emails[primary eq "True"].type eq "work"`, true},
		{`active eq false`, true},
		{`active eq "False"`, true},
		{`active eq true`, false},
		{`active ne true`, true},
		{`roles[primary eq "True"].value eq "admin"`, true},
		{`roles[primary eq false].value eq "admin"`, false},
		{`manager eq "m1"`, true},
		{`manager.value eq "m1"`, true},
		{ent + `:manager.value eq "m1"`, true},
		{ent + `:manager eq "m2"`, false},
		{`id eq "AbC" and manager eq "m1"`, true},
		{`manager[value eq "m1"]`, true},
		{ent + `:department eq "r&d"`, true},
		{`meta.lastModified gt "2026-01-05T09:00:00Z"`, true},
		{`meta.lastModified gt "2026-01-05T10:00:00Z"`, false},
		{`meta.lastModified ge "2026-01-05T10:00:00Z"`, true},
		{`meta.lastModified eq "2026-01-05T12:00:00+02:00"`, true},
		{`meta.created lt "2026-01-05T10:00:00.5Z"`, true},
		{`meta.lastModified sw "2026-01"`, true},
		{`title pr`, false},
		{`name.familyName pr`, true},
		{`name pr`, true},
		{`emails pr`, true},
		{`manager pr`, true},
		{`ims pr`, false},
		{`title eq null`, true},
		{`userName eq null`, false},
		{`userName ne null`, true},
		{`title ne "x"`, true},
		{`userName ne "JDOE@contoso.com"`, false},
		{`not (userName eq "x")`, true},
		{`not userName pr`, false},
		{`favouriteColour eq "red"`, false},
		{`favouriteColour eq "red" or userName pr`, true},
		{`emails[nope eq "x"]`, false},
		{`urn:x:unknown:1.0:User:a eq "x"`, false},
		{`userName eq "nope" and title pr or active eq false`, true},
		{`userName eq "nope" and (title pr or active eq false)`, false},
		{`userName gt "a"`, true},
		{`userName lt "a"`, false},
		{`userName le "JDOE@CONTOSO.COM"`, true},
		{`badge gt 41`, true},
		{`badge eq 42.0`, true},
		{`badge lt "100"`, true},
		{`badge ge 4.2e1`, true},
		{`code eq "xyz"`, false},
		{`code eq "XyZ"`, true},
		{`code co "Y"`, false},
		{`code co "y"`, true},
	} {
		e, err := Parse(tc.f)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.f, err)
			continue
		}
		got, err := Match(rt, e, doc)
		if err != nil {
			t.Errorf("Match(%s): %v", tc.f, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Match(%s) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	rt := registry(t).ResourceType("User")
	doc := docOf(t, sampleUser)
	for _, f := range []string{
		`active gt true`,
		`active co "t"`,
		`active eq "yes"`,
		`name eq "x"`,
		`meta.created gt "yesterday"`,
		`badge co "4"`,
		`badge eq "four"`,
		`badge gt 1e999999999`,
		`userName gt null`,
		`userName[value eq "x"]`,
		// errors do not depend on the data: the right side is never evaluated here.
		`userName eq "nope" and active gt true`,
	} {
		e, err := Parse(f)
		if err != nil {
			t.Fatalf("Parse(%s): %v", f, err)
		}
		_, err = Match(rt, e, doc)
		if se, ok := scimerr.As(err); !ok || se.ScimType != scimerr.InvalidFilter || se.Status != 400 {
			t.Errorf("Match(%s) err = %v, want 400 invalidFilter", f, err)
		}
	}
}

func TestMatchGroup(t *testing.T) {
	rt := registry(t).ResourceType("Group")
	doc := docOf(t, `{"id":"g1","displayName":"Sales","externalId":"8aa1","members":[{"value":"u1"},{"value":"u2","display":"Two"}]}`)
	for _, tc := range []struct {
		f    string
		want bool
	}{
		{`displayName eq "sales"`, true},
		{`displayName eq "e0a4b9d2-1c3f-4a8e-bb10-6a2f5d7c9e01"`, false},
		{`externalId eq "8aa1"`, true},
		{`members[value eq "u2"]`, true},
		{`members[value eq "U2"]`, false},
		{`members.value eq "u3"`, false},
		{`members eq "u1"`, true},
		{`members.display eq "two"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "SALES"`, true},
		{`userName eq "x"`, false},
	} {
		e, err := Parse(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Match(rt, e, doc)
		if err != nil || got != tc.want {
			t.Errorf("Match(%s) = %v, %v; want %v", tc.f, got, err, tc.want)
		}
	}
}

func TestEq(t *testing.T) {
	for _, tc := range []struct {
		f, attr, value string
		ok             bool
	}{
		{`userName eq "x"`, "userName", "x", true},
		{`USERNAME eq "x"`, "userName", "x", true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, "userName", "x", true},
		{`manager eq "m" and id eq "i"`, "id", "i", true},
		{`title eq "t" and active eq true`, "title", "t", true},
		{`displayName eq "g" and externalId eq "e"`, "displayName", "g", true},
		{`(userName eq "x" and title pr) and externalId eq "e"`, "userName", "x", true},
		{`userName eq "x" or userName eq "y"`, "", "", false},
		{`not (userName eq "x")`, "", "", false},
		{`userName ne "x"`, "", "", false},
		{`name.givenName eq "x"`, "", "", false},
		{`emails[type eq "work"].value eq "x"`, "", "", false},
		{`badge eq 1`, "", "", false},
		{ent + `:department eq "x"`, "", "", false},
	} {
		e, err := Parse(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		attr, value, ok := Eq(e)
		if attr != tc.attr || value != tc.value || ok != tc.ok {
			t.Errorf("Eq(%s) = %q %q %v, want %q %q %v", tc.f, attr, value, ok, tc.attr, tc.value, tc.ok)
		}
	}
}
