package schema

// The core User, enterprise User and Group schemas of RFC 7643 §4 and §8.7.
// They are package-level singletons: definitions never change after start-up
// and sharing them lets normalisation recognise special attributes (manager,
// roles) by identity instead of by name.

var (
	managerAttr = complexAttr("manager", "The user's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.", []*Attribute{
		str("value", "The id of the SCIM resource representing the user's manager.", caseExact),
		attr("$ref", TypeReference, "The URI of the SCIM resource representing the user's manager.", refTypes("User")),
		str("displayName", "The displayName of the user's manager.", readOnly),
	})

	rolesAttr = complexAttr("roles", "A list of roles for the user that collectively represent who the user is, e.g., 'Student', 'Faculty'.",
		plural(str("value", "The value of a role."), "role"), multi)

	externalIDAttr = str("externalId", "A string that is an identifier for the resource as defined by the provisioning client.", caseExact)

	idAttr = str("id", "A unique identifier for a SCIM resource as defined by the service provider.", caseExact, readOnly, always, unique)

	metaAttr = complexAttr("meta", "A complex attribute containing resource metadata.", []*Attribute{
		str("resourceType", "The name of the resource type of the resource.", caseExact, readOnly),
		attr("created", TypeDateTime, "The DateTime that the resource was added to the service provider.", readOnly),
		attr("lastModified", TypeDateTime, "The most recent DateTime that the details of this resource were updated at the service provider.", readOnly),
		attr("location", TypeReference, "The URI of the resource being returned.", caseExact, readOnly, refTypes("uri")),
		str("version", "The version of the resource being returned.", caseExact, readOnly),
	}, readOnly)
)

var userSchema = &Schema{
	ID:          UserURN,
	Name:        "User",
	Description: "User Account",
	Attributes: []*Attribute{
		str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Matched case-insensitively.", required, unique),
		complexAttr("name", "The components of the user's real name.", []*Attribute{
			str("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
			str("familyName", "The family name of the User, or last name in most Western languages."),
			str("givenName", "The given name of the User, or first name in most Western languages."),
			str("middleName", "The middle name(s) of the User."),
			str("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages."),
			str("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages."),
		}),
		str("displayName", "The name of the User, suitable for display to end-users."),
		str("nickName", "The casual way to address the user in real life."),
		attr("profileUrl", TypeReference, "A fully qualified URL pointing to a page representing the User's online profile.", refTypes("external")),
		str("title", "The user's title, such as \"Vice President\"."),
		str("userType", "Used to identify the relationship between the organization and the user."),
		str("preferredLanguage", "Indicates the User's preferred written or spoken language, e.g. en-US."),
		str("locale", "Used to indicate the User's default location for purposes of localizing items such as currency."),
		str("timezone", "The User's time zone in the 'Olson' time zone database format, e.g. America/Los_Angeles."),
		boolean("active", "A Boolean value indicating the User's administrative status."),
		str("password", "The User's cleartext password. Never returned.", writeOnly, never),
		complexAttr("emails", "Email addresses for the user.",
			plural(str("value", "Email address for the user."), "email", "work", "home", "other"), multi),
		complexAttr("phoneNumbers", "Phone numbers for the User.",
			plural(str("value", "Phone number of the User."), "phone number", "work", "home", "mobile", "fax", "pager", "other"), multi),
		complexAttr("ims", "Instant messaging addresses for the User.",
			plural(str("value", "Instant messaging address for the User."), "instant messaging address", "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"), multi),
		complexAttr("photos", "URLs of photos of the User.",
			plural(attr("value", TypeReference, "URL of a photo of the User.", refTypes("external")), "photo", "photo", "thumbnail"), multi),
		complexAttr("addresses", "A physical mailing address for this User.", []*Attribute{
			str("formatted", "The full mailing address, formatted for display or use with a mailing label."),
			str("streetAddress", "The full street address component."),
			str("locality", "The city or locality component."),
			str("region", "The state or region component."),
			str("postalCode", "The zip code or postal code component."),
			str("country", "The country name component."),
			str("type", "A label indicating the address's function.", canonical("work", "home", "other")),
			boolean("primary", "Whether this is the primary mailing address."),
		}, multi),
		complexAttr("groups", "A list of groups to which the user belongs, either through direct membership or through nested groups. Computed by the service provider.", []*Attribute{
			str("value", "The identifier of the User's group.", caseExact, readOnly),
			attr("$ref", TypeReference, "The URI of the corresponding 'Group' resource.", readOnly, refTypes("Group")),
			str("display", "A human-readable name of the group.", readOnly),
			str("type", "A label indicating the attribute's function.", readOnly, canonical("direct", "indirect")),
		}, multi, readOnly),
		complexAttr("entitlements", "A list of entitlements for the User that represent a thing the User has.",
			plural(str("value", "The value of an entitlement."), "entitlement"), multi),
		rolesAttr,
		complexAttr("x509Certificates", "A list of certificates issued to the User.",
			plural(attr("value", TypeBinary, "The value of an X.509 certificate.", caseExact), "certificate"), multi),
		externalIDAttr,
	},
}

var enterpriseSchema = &Schema{
	ID:          EnterpriseUserURN,
	Name:        "EnterpriseUser",
	Description: "Enterprise User",
	Attributes: []*Attribute{
		str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
		str("costCenter", "Identifies the name of a cost center."),
		str("organization", "Identifies the name of an organization."),
		str("division", "Identifies the name of a division."),
		str("department", "Identifies the name of a department."),
		managerAttr,
	},
}

var membersAttr = complexAttr("members", "A list of members of the Group. Stored apart from the group document.", []*Attribute{
	str("value", "Identifier of the member of this Group.", caseExact, immutable),
	attr("$ref", TypeReference, "The URI corresponding to a SCIM resource that is a member of this Group.", immutable, refTypes("User", "Group")),
	str("display", "A human-readable name of the member.", immutable),
	str("type", "A label indicating the type of resource, e.g. 'User' or 'Group'.", immutable, canonical("User", "Group")),
}, multi)

var groupSchema = &Schema{
	ID:          GroupURN,
	Name:        "Group",
	Description: "Group",
	Attributes: []*Attribute{
		str("displayName", "A human-readable name for the Group. Unique, matched case-insensitively.", required, unique),
		membersAttr,
		externalIDAttr,
	},
}

// IsMembers reports whether a is the Group members attribute, which the
// document never holds (members are stored row by row).
func IsMembers(a *Attribute) bool { return a == membersAttr }

// IsManager reports whether a is the enterprise manager attribute, which
// documents always hold as {"value": id}.
func IsManager(a *Attribute) bool { return a == managerAttr }

// IsRoles reports whether a is the core User roles attribute, whose elements
// Entra may send as JSON-encoded strings.
func IsRoles(a *Attribute) bool { return a == rolesAttr }
