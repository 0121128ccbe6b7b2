package schema

import (
	"fmt"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/config"
)

// Registry is the set of schemas and resource types one tenant serves.
type Registry struct {
	types   []*ResourceType
	schemas []*Schema
}

// NewRegistry builds the registry of a tenant: the core User with the
// enterprise extension and the tenant's custom extensions, and the core Group
// when cfg.Groups is set. A nil cfg means config.Default().
func NewRegistry(cfg *config.Tenant) (*Registry, error) {
	if cfg == nil {
		cfg = config.Default()
	}
	user := &ResourceType{
		Name: "User", Endpoint: "/Users", Description: "User Account",
		Schema:     userSchema,
		Extensions: []Extension{{Schema: enterpriseSchema}},
		common:     []*Attribute{idAttr, metaAttr},
	}
	r := &Registry{schemas: []*Schema{userSchema, enterpriseSchema}}
	for _, ce := range cfg.Extensions {
		s, err := customSchema(ce)
		if err != nil {
			return nil, err
		}
		if r.Schema(s.ID) != nil || strings.EqualFold(s.ID, GroupURN) {
			return nil, fmt.Errorf("extension urn %q clashes with a schema the server already serves", ce.URN)
		}
		user.Extensions = append(user.Extensions, Extension{Schema: s, Required: ce.Required})
		r.schemas = append(r.schemas, s)
	}
	r.types = append(r.types, user)
	if cfg.Groups {
		r.types = append(r.types, &ResourceType{
			Name: "Group", Endpoint: "/Groups", Description: "Group",
			Schema: groupSchema,
			common: []*Attribute{idAttr, metaAttr},
		})
		r.schemas = append(r.schemas, groupSchema)
	}
	return r, nil
}

// customSchema turns a tenant's custom extension into a schema. Custom
// attributes are simple (never complex) and readWrite.
func customSchema(ce config.Extension) (*Schema, error) {
	if ce.URN == "" {
		return nil, fmt.Errorf("custom extension without urn")
	}
	name := ce.Name
	if name == "" {
		// The URN's last segments, e.g. "acme:2.0:User" -> "acme User", make a
		// readable default; Entra shows it only in schema discovery.
		name = ce.URN[strings.LastIndex(ce.URN, ":")+1:]
	}
	s := &Schema{ID: ce.URN, Name: name, Description: ce.Description}
	for _, ca := range ce.Attributes {
		switch ca.Type {
		case TypeString, TypeBoolean, TypeInteger, TypeDecimal, TypeDateTime, TypeReference:
		default:
			return nil, fmt.Errorf("extension %s: attribute %q has unsupported type %q", ce.URN, ca.Name, ca.Type)
		}
		a := attr(ca.Name, ca.Type, ca.Description)
		a.MultiValued, a.CaseExact, a.Required = ca.MultiValued, ca.CaseExact, ca.Required
		if a.Type == TypeReference {
			a.ReferenceTypes = []string{"external"}
		}
		s.Attributes = append(s.Attributes, a)
	}
	return s, nil
}

// ResourceType returns the served resource type called name ("User",
// "Group"; case-insensitive), or nil when the tenant does not serve it.
func (r *Registry) ResourceType(name string) *ResourceType {
	for _, rt := range r.types {
		if strings.EqualFold(rt.Name, name) {
			return rt
		}
	}
	return nil
}

// ResourceTypes lists the served resource types, User first.
func (r *Registry) ResourceTypes() []*ResourceType { return r.types }

// Schemas lists every served schema: core User, enterprise User, custom
// extensions, then Group when served.
func (r *Registry) Schemas() []*Schema { return r.schemas }

// Schema returns the served schema whose id is id (case-insensitive), or nil.
func (r *Registry) Schema(id string) *Schema {
	for _, s := range r.schemas {
		if strings.EqualFold(s.ID, id) {
			return s
		}
	}
	return nil
}
