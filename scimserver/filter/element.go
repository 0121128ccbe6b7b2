package filter

import (
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// MatchElement reports whether one element (a map) of the complex attribute
// a satisfies e, the filter of a value path such as emails[type eq "work"].
// PATCH uses it to find the elements an operation targets. Errors are
// *scimerr.Error invalidFilter, as for Match.
func MatchElement(rt *schema.ResourceType, a *schema.Attribute, e Expr, elem map[string]any) (bool, error) {
	match, err := ElementMatcher(rt, a, e)
	if err != nil {
		return false, err
	}
	return match(elem), nil
}

// ElementMatcher validates e once and returns MatchElement's test for any
// number of elements: a PATCH of many filtered operations on a long list
// would otherwise validate the filter again for every element.
func ElementMatcher(rt *schema.ResourceType, a *schema.Attribute, e Expr) (func(elem map[string]any) bool, error) {
	if a.Type != schema.TypeComplex {
		return nil, scimerr.BadRequest(scimerr.InvalidFilter, "%q is not a complex attribute, so it cannot take a [...] value filter", a.Name)
	}
	if err := validate(rt, e, a); err != nil {
		return nil, err
	}
	return func(elem map[string]any) bool { return eval(rt, e, nil, a, elem) }, nil
}
