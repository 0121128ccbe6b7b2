package filter

import (
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

var filterSeeds = []string{
	`userName eq "bjensen"`,
	`userName Eq "7b1e6a0c-3f0e-4d0e-9c55-2f1d8b6e9a11"`,
	`emails[type eq "work"].value eq "jdoe@contoso.com"`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`not (a eq 1 and b eq 2) or c pr`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1"`,
	`id eq "9f0c" and manager eq "1a2b"`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`userName eq "a\"b\\c\u00e9\ud83d\ude00"`,
	`externalId eq jyoung`,
	`badge ge 4.2e1 and active eq "True"`,
	`roles[primary eq "True"].value pr`,
	`members[value eq "u1"]`,
	`((title pr))`,
	`a eq null`,
}

func FuzzParse(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	rt := registry(f).ResourceType("User")
	grp := registry(f).ResourceType("Group")
	doc := docOf(f, sampleUser)
	gdoc := docOf(f, `{"id":"g1","displayName":"Sales","members":[{"value":"u1"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if se, ok := scimerr.As(err); !ok || se.ScimType != scimerr.InvalidFilter || se.Status != 400 {
				t.Fatalf("Parse(%q) error %v is not 400 invalidFilter", s, err)
			}
			return
		}
		if e == nil {
			t.Fatalf("Parse(%q) returned neither an expression nor an error", s)
		}
		Eq(e)
		for i := 0; i < 2; i++ {
			target, d := rt, doc
			if i == 1 {
				target, d = grp, gdoc
			}
			if _, err := Match(target, e, d); err != nil {
				if se, ok := scimerr.As(err); !ok || se.ScimType != scimerr.InvalidFilter {
					t.Fatalf("Match(%q) error %v is not invalidFilter", s, err)
				}
			}
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		`userName`, `name.givenName`, `emails[type eq "work"].value`, `addresses[type eq "work"].postalCode`,
		`roles[primary eq "True"].display`, `members[value eq "9f0c"]`, `manager[value eq "1a2b"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`,
		`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParsePath(s)
		if err != nil {
			if se, ok := scimerr.As(err); !ok || se.ScimType != scimerr.InvalidPath || se.Status != 400 {
				t.Fatalf("ParsePath(%q) error %v is not 400 invalidPath", s, err)
			}
			return
		}
		if ap.Path.Attr == "" && ap.Path.URN == "" {
			t.Fatalf("ParsePath(%q) = empty path without error", s)
		}
		if ap.Filter != nil && ap.Path.Attr == "" {
			t.Fatalf("ParsePath(%q): a filter without an attribute", s)
		}
	})
}
