package filter

import (
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/schema"
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
	// Eq must not push down through or/not/ne, nor pick the wrong conjunct.
	`userName eq "x" or id eq "AbC"`,
	`id eq "x" or userName eq "jdoe@contoso.com"`,
	`userName ne "x"`,
	`USERNAME eq "JDOE@CONTOSO.COM"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"`,
	`name.familyName eq "doe" and name.givenName eq "Jane"`,
	`id ne "x" and userName eq "jdoe@contoso.com"`,
	`not (userName eq "x")`,
	`userName ne "x" and id eq "AbC"`,
	`userName eq "JDOE@contoso.COM" and externalId eq "jdoe"`,
	`externalId eq "JDOE"`,
	`id eq "abc"`,
	`displayName eq "sales" and members eq "u1"`,
	`title eq "t" and (userName eq "x" or active eq false)`,
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
		attr, value, pushed := Eq(e)
		for i := 0; i < 2; i++ {
			target, d := rt, doc
			if i == 1 {
				target, d = grp, gdoc
			}
			docs := []map[string]any{d}
			if pushed {
				docs = append(docs, withAttr(target, d, attr, value), withAttr(target, d, attr, value+"~"))
			}
			for _, d := range docs {
				ok, err := Match(target, e, d)
				if err != nil {
					if se, isSCIM := scimerr.As(err); !isSCIM || se.ScimType != scimerr.InvalidFilter {
						t.Fatalf("Match(%q) error %v is not invalidFilter", s, err)
					}
					continue
				}
				if ok && pushed {
					eqOracle(t, target, s, attr, value, d)
				}
			}
		}
	})
}

// eqOracle: Eq said the filter holds only where attr equals value, so a
// document Match accepts must have attr equal to value, compared as the
// schema says (case-insensitively unless caseExact). The store looks up
// that value in an index and matches the rest: a wrong Eq loses results.
func eqOracle(t *testing.T, rt *schema.ResourceType, f, attr, value string, doc map[string]any) {
	t.Helper()
	ext, a, sub, err := rt.Lookup(rt.SplitPath(attr))
	if err != nil {
		t.Fatalf("%s: Match accepted a document, but Eq's attribute %q is not a %s attribute", f, attr, rt.Name)
	}
	if ext != "" || sub != nil {
		t.Fatalf("%s: Eq returned %q, not a core attribute without sub-attribute", f, attr)
	}
	for _, name := range indexed {
		if strings.EqualFold(attr, name) && attr != name {
			t.Fatalf("%s: Eq returned %q, want the canonical %q", f, attr, name)
		}
	}
	def := a
	if a.Type == schema.TypeComplex {
		if def = a.Sub("value"); def == nil {
			t.Fatalf("%s: Match accepted %s eq %q on a complex attribute without value", f, attr, value)
		}
	}
	if def.Type != schema.TypeString && def.Type != schema.TypeReference && def.Type != schema.TypeBinary {
		return // a typed literal ("true", "42"): equal by type, not as text; never pushed down
	}
	for _, el := range elements(doc[a.Name]) {
		if m, ok := el.(map[string]any); ok && a.Type == schema.TypeComplex {
			el = m[def.Name]
		}
		if s, ok := el.(string); ok && (s == value || (!def.CaseExact && strings.EqualFold(s, value))) {
			return
		}
	}
	t.Fatalf("%s: Eq claims %s eq %q, but Match accepted a document whose %s is %v", f, attr, value, a.Name, doc[a.Name])
}

// withAttr is doc with a core attribute set to a string, replacing what
// was there: one document that has the value, one that does not.
func withAttr(rt *schema.ResourceType, doc map[string]any, attr, value string) map[string]any {
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	if ext, a, sub, err := rt.Lookup(rt.SplitPath(attr)); err == nil && ext == "" && sub == nil {
		out[a.Name] = value
	}
	return out
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
