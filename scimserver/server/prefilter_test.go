package server

import (
	"context"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// textNeedEnv is a server and store holding nothing; check stores one user
// whose string attributes all hold value, lists it with the filter's text
// condition and without, and fails when they disagree: the condition
// derived from a filter must never drop a document the filter matches.
type textNeedEnv struct {
	e *env
}

func (x textNeedEnv) check(t *testing.T, filterText, value string) (matched, checked bool) {
	t.Helper()
	expr, err := filter.Parse(filterText)
	if err != nil {
		return false, false
	}
	rt := x.e.srv.reg.ResourceType("User")
	cq, err := x.e.srv.compile(rt, expr, listParams{startIndex: 1, count: 10})
	if err != nil {
		return false, false
	}
	doc, err := rt.Normalize(map[string]any{
		"userName": "u-" + value, "externalId": value, "displayName": value, "title": value, "nickName": strings.ToUpper(value),
		"name":   map[string]any{"givenName": value, "familyName": strings.ToLower(value)},
		"emails": []any{map[string]any{"type": "work", "value": value, "primary": true}, map[string]any{"type": "home", "value": "h" + value}},
		"roles":  []any{map[string]any{"value": value}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": value, "manager": map[string]any{"value": value}},
	})
	if err != nil {
		return false, false
	}
	ctx := context.Background()
	st := x.e.store
	if err := st.Create(ctx, &store.Resource{Kind: store.User, ID: "text-need", Doc: doc}); err != nil {
		return false, false
	}
	defer st.Delete(ctx, store.User, "text-need")
	with, err := st.List(ctx, store.User, cq.q)
	if err != nil {
		t.Fatalf("%s: %v", filterText, err)
	}
	q := cq.q
	q.Text = nil
	without, err := st.List(ctx, store.User, q)
	if err != nil {
		t.Fatalf("%s: %v", filterText, err)
	}
	if *cq.err != nil {
		return false, false
	}
	if with.Total != without.Total {
		t.Fatalf("filter %s on value %q: %d matches with the text condition, %d without", filterText, value, with.Total, without.Total)
	}
	return without.Total == 1, true
}

// Each filter matches the stored user; the text condition must keep it.
func TestTextNeedKeepsMatches(t *testing.T) {
	x := textNeedEnv{newEnv(t)}
	const v = `Ünïcode <R&D> "Kelvin" \ Straße`
	for _, f := range []string{
		`title eq "ünÏcode <r&d> \"kelvin\" \\ strasse"`, // case-insensitive eq (ß has no simple fold to ss: no match expected)
		`title eq "ÜNÏCODE <R&D> \"KELVIN\" \\ STRAßE"`,
		`title co "<r&d>"`,
		`title sw "ünï"`,
		`title ew "straße"`,
		`title co "\u212Aelvin"`, // Kelvin sign
		`externalId eq "Ünïcode <R&D> \"Kelvin\" \\ Straße"`,
		`emails[type eq "work" and value co "R&D"]`,
		`emails.value co "r&d"`,
		`emails[value sw "hü"]`,
		`name.givenName co "KELVIN" and name.familyName co "kelvin"`,
		`title co "nothing" or nickName co "kelvin"`,
		`not (title co "nothing")`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department co "<r&d>"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value co "R&D"`,
		`roles[value co "r&d"]`,
		`userName sw "U-ÜN"`,
		`title pr and title ne "x"`,
	} {
		matched, checked := x.check(t, f, v)
		if !checked {
			t.Fatalf("%s: not checked (filter or document refused)", f)
		}
		if !matched && !strings.Contains(f, "strasse") {
			t.Errorf("%s: did not match %q", f, v)
		}
	}
}

// FuzzTextNeed: for any filter and stored value, the text condition keeps
// every match.
func FuzzTextNeed(f *testing.F) {
	x := textNeedEnv{newEnv(f)}
	for _, s := range [][2]string{
		{`title co "ab"`, "xABy"},
		{`title eq "ſ"`, "S"},
		{`emails[type eq "work" and value ew "<x>"]`, "a<X>"},
		{`displayName co "\"" or not (title pr)`, `q"q`},
		{`name.givenName sw "\u0130"`, "i̇x"},
		{`externalId eq "\u2028"`, "\u2028"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filterText, value string) {
		x.check(t, filterText, value)
	})
}
