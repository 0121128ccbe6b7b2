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
	if a.Type != schema.TypeComplex {
		return false, scimerr.BadRequest(scimerr.InvalidFilter, "%q is not a complex attribute, so it cannot take a [...] value filter", a.Name)
	}
	if err := validate(rt, e, a); err != nil {
		return false, err
	}
	return eval(rt, e, nil, a, elem), nil
}
