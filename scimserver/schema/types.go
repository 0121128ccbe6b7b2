package schema

import "strings"

// Attribute is an attribute definition (RFC 7643 §7). Definitions are
// immutable once built; the core ones are shared by every Registry.
type Attribute struct {
	Name            string
	Type            string // TypeString, TypeBoolean, ...
	MultiValued     bool
	Required        bool
	CaseExact       bool
	Mutability      string // ReadOnly, ReadWrite, Immutable, WriteOnly
	Returned        string // ReturnedAlways, ReturnedNever, ...
	Uniqueness      string // UniqueNone, UniqueServer, UniqueGlobal
	SubAttributes   []*Attribute
	CanonicalValues []string
	ReferenceTypes  []string
	Description     string
}

// Sub returns the sub-attribute called name (case-insensitive), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	return find(a.SubAttributes, name)
}

// ReadOnly reports whether clients may never set the attribute.
func (a *Attribute) ReadOnly() bool { return a.Mutability == ReadOnly }

// Schema is a schema resource (RFC 7643 §7): a core schema or an extension.
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attr returns the top-level attribute called name (case-insensitive), or nil.
func (s *Schema) Attr(name string) *Attribute { return find(s.Attributes, name) }

// Extension is a schema extension of a resource type.
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType is a served resource type (RFC 7643 §6) with its schemas.
type ResourceType struct {
	Name        string // "User", "Group"
	Endpoint    string // "/Users", "/Groups"
	Description string
	Schema      *Schema
	Extensions  []Extension

	// common are id, meta: attributes every resource has (RFC 7643 §3.1)
	// that no schema resource lists. Lookup resolves them so filters such
	// as `id eq "..."` and `meta.lastModified gt "..."` work.
	common []*Attribute
}

// Extension returns the extension schema whose id is urn (case-insensitive), or nil.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e.Schema
		}
	}
	return nil
}

// SchemaIDs lists the core schema id followed by the extension ids.
func (rt *ResourceType) SchemaIDs() []string {
	ids := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		ids = append(ids, e.Schema.ID)
	}
	return ids
}

// Path is an attribute path as typed by a client: an optional schema URN, an
// attribute name and an optional sub-attribute name. Names are not
// canonicalised; Lookup does that.
type Path struct {
	URN, Attr, Sub string
}

// String renders the path in SCIM notation (urn:attr.sub).
func (p Path) String() string {
	s := p.Attr
	if p.Sub != "" {
		s += "." + p.Sub
	}
	if p.URN != "" {
		if s == "" {
			return p.URN
		}
		return p.URN + ":" + s
	}
	return s
}

func find(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}
