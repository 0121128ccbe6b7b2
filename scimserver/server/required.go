package server

import (
	"fmt"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// requiredAttr is one tenant-required user attribute, compiled once into a
// `path pr` filter so paths like emails[type eq "work"].value work exactly
// as they do in filters.
type requiredAttr struct {
	path string
	expr filter.Expr
}

func compileRequired(rt *schema.ResourceType, paths []string) ([]requiredAttr, error) {
	var out []requiredAttr
	for _, p := range paths {
		e, err := filter.Parse(p + " pr")
		if err != nil {
			return nil, fmt.Errorf("server: requiredUserAttributes %q: %w", p, err)
		}
		// Resolve the path now: a typo must stop start-up, not reject every
		// user later.
		ap, err := filter.ParsePath(p)
		if err == nil {
			_, _, _, err = rt.Lookup(ap.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("server: requiredUserAttributes %q: %w", p, err)
		}
		out = append(out, requiredAttr{path: p, expr: e})
	}
	return out, nil
}

// checkRequired rejects a user document missing any tenant-required
// attribute, naming all of them at once.
func (s *Server) checkRequired(rt *schema.ResourceType, doc map[string]any) error {
	if rt.Name != "User" || len(s.required) == 0 {
		return nil
	}
	var missing []string
	for _, ra := range s.required {
		ok, err := filter.Match(rt, ra.expr, doc)
		if err != nil || !ok {
			missing = append(missing, ra.path)
		}
	}
	if len(missing) > 0 {
		return scimerr.BadRequest(scimerr.InvalidValue, "required attributes missing: %s", strings.Join(missing, ", "))
	}
	return nil
}
