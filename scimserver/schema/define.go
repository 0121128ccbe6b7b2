package schema

// A tiny builder vocabulary so the RFC 7643 definitions below read like the
// RFC's own tables. Every attribute starts as a single-valued, optional,
// case-insensitive, readWrite, returned-by-default, non-unique attribute.

type opt func(*Attribute)

func attr(name, typ, desc string, opts ...opt) *Attribute {
	a := &Attribute{
		Name: name, Type: typ, Description: desc,
		Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: UniqueNone,
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func str(name, desc string, opts ...opt) *Attribute { return attr(name, TypeString, desc, opts...) }
func boolean(name, desc string, opts ...opt) *Attribute {
	return attr(name, TypeBoolean, desc, opts...)
}
func complexAttr(name, desc string, subs []*Attribute, opts ...opt) *Attribute {
	return attr(name, TypeComplex, desc, append([]opt{func(a *Attribute) { a.SubAttributes = subs }}, opts...)...)
}

var (
	multi     opt = func(a *Attribute) { a.MultiValued = true }
	required  opt = func(a *Attribute) { a.Required = true }
	caseExact opt = func(a *Attribute) { a.CaseExact = true }
	readOnly  opt = func(a *Attribute) { a.Mutability = ReadOnly }
	immutable opt = func(a *Attribute) { a.Mutability = Immutable }
	writeOnly opt = func(a *Attribute) { a.Mutability = WriteOnly }
	never     opt = func(a *Attribute) { a.Returned = ReturnedNever }
	always    opt = func(a *Attribute) { a.Returned = ReturnedAlways }
	unique    opt = func(a *Attribute) { a.Uniqueness = UniqueServer }
)

func canonical(v ...string) opt { return func(a *Attribute) { a.CanonicalValues = v } }
func refTypes(v ...string) opt  { return func(a *Attribute) { a.ReferenceTypes = v } }

// plural builds the value/display/type/primary sub-attributes shared by
// emails, phoneNumbers, ims, photos, entitlements, roles and x509Certificates.
func plural(value *Attribute, what string, types ...string) []*Attribute {
	typeOpts := []opt{}
	if len(types) > 0 {
		typeOpts = append(typeOpts, canonical(types...))
	}
	return []*Attribute{
		value,
		str("display", "A human-readable name, primarily used for display purposes."),
		str("type", "A label indicating the "+what+"'s function.", typeOpts...),
		boolean("primary", "Whether this is the primary "+what+". The primary attribute value 'true' MUST appear no more than once."),
	}
}
