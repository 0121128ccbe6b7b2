package schema

// Discard removes from doc, a normalised document about to be stored, the
// core attributes the server accepts but never keeps: writeOnly attributes
// that are returned "never", which is the User's password. It returns
// whether doc held one.
//
// Identity providers that sync passwords (Okta, OneLogin) send password on
// POST, PUT and PATCH and fail when it is refused, so it stays in /Schemas
// and is accepted. But the apps behind this server authenticate through
// SSO: nothing may read it (RFC 7643 returned "never"), so keeping it would
// only leave a cleartext secret in the database and its backups. Callers
// apply Discard to the final document of every write, not to the request,
// so a password stored before this existed goes with the next write.
func (rt *ResourceType) Discard(doc map[string]any) bool {
	found := false
	for _, a := range rt.Schema.Attributes {
		if a.Mutability != WriteOnly || a.Returned != ReturnedNever {
			continue
		}
		if _, ok := doc[a.Name]; ok {
			delete(doc, a.Name)
			found = true
		}
	}
	return found
}
