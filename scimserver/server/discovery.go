package server

import (
	"net/http"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// serviceProviderConfig describes exactly what this server does (RFC 7643 §5).
func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{schema.ServiceProviderConfigURN},
		"documentationUri": "https://github.com/scim-operator/scim-operator/blob/main/docs/scimserver.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": MaxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "A long-lived bearer token (Entra's \"Secret Token\") sent as Authorization: Bearer <token>.",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	})
}

// resourceTypes serves /ResourceTypes and /ResourceTypes/{name}.
func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request, name string) {
	base := s.baseURL(r)
	if name != "" {
		rt := s.reg.ResourceType(name)
		if rt == nil {
			s.writeError(w, r, scimerr.NotFound("resource type %q is not served", name))
			return
		}
		writeJSON(w, http.StatusOK, schema.ResourceTypeJSON(rt, base))
		return
	}
	var all []any
	for _, rt := range s.reg.ResourceTypes() {
		all = append(all, schema.ResourceTypeJSON(rt, base))
	}
	writeWholeList(w, all)
}

// schemas serves /Schemas and /Schemas/{id}; Entra calls /Schemas when the
// provisioning configuration is saved.
func (s *Server) schemas(w http.ResponseWriter, r *http.Request, id string) {
	base := s.baseURL(r)
	if id != "" {
		sc := s.reg.Schema(id)
		if sc == nil {
			s.writeError(w, r, scimerr.NotFound("schema %q is not served", id))
			return
		}
		writeJSON(w, http.StatusOK, schema.SchemaJSON(sc, base))
		return
	}
	var all []any
	for _, sc := range s.reg.Schemas() {
		all = append(all, schema.SchemaJSON(sc, base))
	}
	writeWholeList(w, all)
}

// writeWholeList answers a discovery list: every item on one page.
func writeWholeList(w http.ResponseWriter, items []any) {
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: 1, Resources: []any{}}
	resp.Resources = append(resp.Resources, items...)
	resp.TotalResults, resp.ItemsPerPage = len(items), len(items)
	writeJSON(w, http.StatusOK, resp)
}
