package schema

import "strings"

// SchemaJSON renders a schema as its /Schemas resource (RFC 7643 §7):
// camel-cased characteristic values and no nulls, as Entra's schema
// discovery requires (contract §2.13). baseURL is the tenant's SCIM base URL
// for meta.location; empty leaves location out.
func SchemaJSON(s *Schema, baseURL string) map[string]any {
	attrs := make([]any, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		attrs = append(attrs, attributeJSON(a))
	}
	out := map[string]any{
		"schemas":    []any{SchemaURN},
		"id":         s.ID,
		"name":       s.Name,
		"attributes": attrs,
		"meta":       meta("Schema", baseURL, "/Schemas/"+s.ID),
	}
	if s.Description != "" {
		out["description"] = s.Description
	}
	return out
}

// ResourceTypeJSON renders a resource type as its /ResourceTypes resource
// (RFC 7643 §6).
func ResourceTypeJSON(rt *ResourceType, baseURL string) map[string]any {
	exts := make([]any, 0, len(rt.Extensions))
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.Schema.ID, "required": e.Required})
	}
	out := map[string]any{
		"schemas":          []any{ResourceTypeURN},
		"id":               rt.Name,
		"name":             rt.Name,
		"endpoint":         rt.Endpoint,
		"schema":           rt.Schema.ID,
		"schemaExtensions": exts,
		"meta":             meta("ResourceType", baseURL, "/ResourceTypes/"+rt.Name),
	}
	if rt.Description != "" {
		out["description"] = rt.Description
	}
	return out
}

func meta(kind, baseURL, rel string) map[string]any {
	m := map[string]any{"resourceType": kind}
	if baseURL != "" {
		m["location"] = strings.TrimRight(baseURL, "/") + rel
	}
	return m
}

func attributeJSON(a *Attribute) map[string]any {
	out := map[string]any{
		"name":        a.Name,
		"type":        a.Type,
		"multiValued": a.MultiValued,
		"required":    a.Required,
		"caseExact":   a.CaseExact,
		"mutability":  a.Mutability,
		"returned":    a.Returned,
		"uniqueness":  a.Uniqueness,
	}
	if a.Description != "" {
		out["description"] = a.Description
	}
	if len(a.CanonicalValues) > 0 {
		out["canonicalValues"] = toAny(a.CanonicalValues)
	}
	if len(a.ReferenceTypes) > 0 {
		out["referenceTypes"] = toAny(a.ReferenceTypes)
	}
	if len(a.SubAttributes) > 0 {
		subs := make([]any, 0, len(a.SubAttributes))
		for _, s := range a.SubAttributes {
			subs = append(subs, attributeJSON(s))
		}
		out["subAttributes"] = subs
	}
	return out
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
