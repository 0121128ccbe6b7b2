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
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: 1, Resources: []any{}}
	for _, rt := range s.reg.ResourceTypes() {
		resp.Resources = append(resp.Resources, schema.ResourceTypeJSON(rt, base))
	}
	resp.TotalResults, resp.ItemsPerPage = len(resp.Resources), len(resp.Resources)
	writeJSON(w, http.StatusOK, resp)
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
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: 1, Resources: []any{}}
	for _, sc := range s.reg.Schemas() {
		resp.Resources = append(resp.Resources, schema.SchemaJSON(sc, base))
	}
	resp.TotalResults, resp.ItemsPerPage = len(resp.Resources), len(resp.Resources)
	writeJSON(w, http.StatusOK, resp)
}
