package filter

import "testing"

// BenchmarkParseMatch is the cost of Entra's matching query per candidate:
// parse `userName eq "..."` and evaluate it against one user.
func BenchmarkParseMatch(b *testing.B) {
	rt := registry(b).ResourceType("User")
	doc := docOf(b, sampleUser)
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse(`userName eq "jdoe@contoso.com"`)
		if err != nil {
			b.Fatal(err)
		}
		if ok, err := Match(rt, e, doc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkMatchValuePath evaluates a pre-parsed value-path filter.
func BenchmarkMatchValuePath(b *testing.B) {
	rt := registry(b).ResourceType("User")
	doc := docOf(b, sampleUser)
	e, err := Parse(`emails[type eq "work"].value eq "jdoe@contoso.com" and active eq false`)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := Match(rt, e, doc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
