package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// TestEntraProvisioningUsersOnly runs a whole Entra provisioning cycle
// against a tenant that serves users only, rotating its token midway.
func TestEntraProvisioningUsersOnly(t *testing.T) {
	t.Parallel()
	apply(t, "users-only.yaml")
	tn := readyTenant(t, "e2e-users", "e2e-users-entra")
	entraCycle(t, tn, "e2e-users-entra", false)
}

// TestEntraProvisioningUsersAndGroups runs the cycle, groups included,
// against a tenant with required attributes, rotating its token midway.
func TestEntraProvisioningUsersAndGroups(t *testing.T) {
	t.Parallel()
	apply(t, "users-and-groups.yaml")
	tn := readyTenant(t, "e2e-full", "e2e-full-entra-token")

	// A user without the tenant's required attributes is refused, naming them all.
	u := entraUser("norole@contoso.com", "norole", false)
	r := tn.expect(t, tn.token(t), http.MethodPost, "/Users", u, http.StatusBadRequest)
	for _, attr := range []string{`addresses[type eq "work"].country`, "roles", enterprise + ":department"} {
		if detail, _ := r.body["detail"].(string); !strings.Contains(detail, attr) {
			t.Errorf("400 does not name missing %s: %s", attr, r.raw)
		}
	}
	if get(r.body, "status") != "400" {
		t.Errorf("error status must be the string \"400\": %s", r.raw)
	}

	entraCycle(t, tn, "e2e-full-entra", true)
}

// entraUser is a POST /Users body in the shape of Entra's default mapping;
// full adds what the users-and-groups tenant requires.
func entraUser(upn, nick string, full bool) map[string]any {
	u := map[string]any{
		"schemas":           []string{"urn:ietf:params:scim:schemas:core:2.0:User", enterprise},
		"externalId":        nick,
		"userName":          upn,
		"active":            true,
		"displayName":       "User " + nick,
		"title":             "Engineer",
		"preferredLanguage": "en-US",
		"emails":            []any{map[string]any{"primary": true, "type": "work", "value": upn}},
		"name":              map[string]any{"formatted": "User " + nick, "familyName": nick, "givenName": "User"},
		"phoneNumbers": []any{
			map[string]any{"type": "work", "value": "+1 425 555 0100"},
			map[string]any{"type": "mobile", "value": "+1 425 555 0101"},
		},
		enterprise: map[string]any{"employeeNumber": "701984"},
		"roles":    []any{},
		"meta":     map[string]any{"resourceType": "User"},
	}
	if full {
		u["addresses"] = []any{map[string]any{
			"type": "work", "primary": true, "formatted": "Bldg 4", "streetAddress": "1 Main St",
			"locality": "Redmond", "region": "WA", "postalCode": "98052", "country": "US",
		}}
		u[enterprise] = map[string]any{"employeeNumber": "701984", "department": "R&D"}
		u["roles"] = []any{map[string]any{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Reader"}}
	}
	return u
}

// entraCycle provisions, updates, disables and deletes users (and groups)
// as Entra does, with the tenant's own token, rotating it midway through.
func entraCycle(t *testing.T, tn *tenant, tokenName string, groups bool) {
	tok := tn.token(t)
	const get_, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	ok := []int{http.StatusOK, http.StatusNoContent}

	// Test Connection: a random user, and groups, served or not.
	if n := listLen(t, tn.expect(t, tok, get_, "/Users?filter="+eqFilter("userName", uuid.NewString()), nil, 200)); n != 0 {
		t.Fatalf("Test Connection found %d users", n)
	}
	if n := listLen(t, tn.expect(t, tok, get_, "/Groups?excludedAttributes=members&filter="+eqFilter("displayName", uuid.NewString()), nil, 200)); n != 0 {
		t.Fatalf("Test Connection found %d groups", n)
	}
	if s := tn.call(t, "", get_, "/Users", nil).status; s != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", s)
	}

	// Match, then create: the manager first, then the user.
	upn := "jdoe." + tn.name + "@contoso.com"
	if n := listLen(t, tn.expect(t, tok, get_, "/Users?filter="+eqFilter("userName", upn), nil, 200)); n != 0 {
		t.Fatalf("user exists before the cycle: %d", n)
	}
	boss := tn.expect(t, tok, post, "/Users", entraUser("boss."+tn.name+"@contoso.com", "boss", groups), 201).body
	boss2 := tn.expect(t, tok, post, "/Users", entraUser("boss2."+tn.name+"@contoso.com", "boss2", groups), 201).body
	created := tn.expect(t, tok, post, "/Users", entraUser(upn, "jdoe", groups), 201).body
	id, _ := created["id"].(string)
	if id == "" || created["active"] != true || get(typed(created, "emails", "work"), "value") != upn {
		t.Fatalf("created user: %v", created)
	}
	// Uniqueness: userName matches case-insensitively.
	tn.expect(t, tok, post, "/Users", entraUser(strings.ToUpper(upn), "dup", groups), http.StatusConflict)
	if n := listLen(t, tn.expect(t, tok, get_, "/Users?filter="+eqFilter("userName", strings.ToUpper(upn)), nil, 200)); n != 1 {
		t.Fatalf("case-insensitive match found %d", n)
	}

	// Update without the flag: capitalised ops, one attribute each, filtered paths.
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(
		op("Replace", `emails[type eq "work"].value`, "jane.smith@contoso.com"),
		op("Replace", "name.familyName", "Smith"),
		op("Replace", "displayName", "Jane Smith"),
		op("Replace", enterprise+":employeeNumber", "701985"),
		op("Add", `addresses[type eq "work"].postalCode`, "98053"),
		op("Add", "nickName", "Babs"),
	), ok...)
	u := tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body
	if get(typed(u, "emails", "work"), "value") != "jane.smith@contoso.com" || get(u, "name", "familyName") != "Smith" ||
		get(u, enterprise, "employeeNumber") != "701985" || get(typed(u, "addresses", "work"), "postalCode") != "98053" || u["nickName"] != "Babs" {
		t.Fatalf("legacy PATCH not applied: %v", u)
	}

	// The admin rotates the token in the middle of the cycle.
	tok = rotate(t, tn, tokenName, tok)

	// Update with ?aadOptscim062020: lowercase ops, a pathless object with
	// dotted and URN keys, active as a boolean.
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(
		op("replace", `emails[type eq "work"].value`, "jane@contoso.com"),
		op("replace", "", map[string]any{
			"displayName":              "Jane Doe-Smith",
			"name.givenName":           "Jane",
			enterprise + ":department": "Research",
		}),
		op("replace", "active", true),
	), ok...)
	u = tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body
	if u["displayName"] != "Jane Doe-Smith" || get(u, "name", "givenName") != "Jane" || get(u, enterprise, "department") != "Research" ||
		get(typed(u, "emails", "work"), "value") != "jane@contoso.com" {
		t.Fatalf("aadOptscim062020 PATCH not applied: %v", u)
	}

	// Manager: set (a string), change (an object), remove (empty value).
	bossID, boss2ID := boss["id"].(string), boss2["id"].(string)
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(op("Add", enterprise+":manager", bossID)), ok...)
	if m := get(tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body, enterprise, "manager", "value"); m != bossID {
		t.Fatalf("manager after set: %v, want %s", m, bossID)
	}
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(op("replace", enterprise+":manager", map[string]any{"value": boss2ID})), ok...)
	if m := get(tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body, enterprise, "manager", "value"); m != boss2ID {
		t.Fatalf("manager after change: %v, want %s", m, boss2ID)
	}
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(op("Replace", enterprise+":manager", "")), ok...)
	if m := get(tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body, enterprise, "manager"); m != nil {
		t.Fatalf("manager after remove: %v, want none", m)
	}

	// Disable as Entra does without the flag ("False"); the user is still
	// found by the match query. Then re-enable.
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(op("Replace", "active", "False")), ok...)
	r := tn.expect(t, tok, get_, "/Users?filter="+eqFilter("userName", upn), nil, 200)
	if listLen(t, r) != 1 || get(r.body, "Resources", 0, "active") != false {
		t.Fatalf("disabled user: %s", r.raw)
	}
	tn.expect(t, tok, patch, "/Users/"+id, patchOp(op("Replace", "active", "True")), ok...)
	if a := tn.expect(t, tok, get_, "/Users/"+id, nil, 200).body["active"]; a != true {
		t.Fatalf("re-enabled user: active %v", a)
	}

	if groups {
		groupCycle(t, tn, tok, []string{id, bossID, boss2ID})
	}

	// Hard delete, twice.
	tn.expect(t, tok, del, "/Users/"+id, nil, http.StatusNoContent)
	tn.expect(t, tok, get_, "/Users/"+id, nil, http.StatusNotFound)
	tn.expect(t, tok, del, "/Users/"+id, nil, http.StatusNotFound)
	if n := listLen(t, tn.expect(t, tok, get_, "/Users?filter="+eqFilter("userName", upn), nil, 200)); n != 0 {
		t.Fatalf("deleted user still matched: %d", n)
	}
}

// groupCycle creates a group, adds members in one batch, removes them in
// both of Entra's forms, renames and deletes it.
func groupCycle(t *testing.T, tn *tenant, tok string, members []string) {
	ok := []int{http.StatusOK, http.StatusNoContent}
	name := "Sales " + tn.name
	if n := listLen(t, tn.expect(t, tok, http.MethodGet, "/Groups?excludedAttributes=members&filter="+eqFilter("displayName", strings.ReplaceAll(name, " ", "+")), nil, 200)); n != 0 {
		t.Fatalf("group exists before the cycle: %d", n)
	}
	g := tn.expect(t, tok, http.MethodPost, "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"externalId":  uuid.NewString(),
		"displayName": name,
		"meta":        map[string]any{"resourceType": "Group"},
	}, 201).body
	gid, _ := g["id"].(string)
	if gid == "" {
		t.Fatalf("created group: %v", g)
	}
	var batch []any
	for _, m := range members {
		batch = append(batch, map[string]any{"value": m})
	}
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+gid, patchOp(op("Add", "members", batch)), ok...)
	memberIDs := func() []string {
		var ids []string
		for _, m := range asSlice(tn.expect(t, tok, http.MethodGet, "/Groups/"+gid, nil, 200).body["members"]) {
			ids = append(ids, get(m, "value").(string))
		}
		return ids
	}
	if got, want := slices.Sorted(slices.Values(memberIDs())), slices.Sorted(slices.Values(members)); !slices.Equal(got, want) {
		t.Fatalf("members after batched add: %v, want %v", got, want)
	}
	if ms := tn.expect(t, tok, http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil, 200).body["members"]; ms != nil {
		t.Fatalf("excludedAttributes=members still returned members: %v", ms)
	}
	// Legacy removal: path "members" with a value array.
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+gid, patchOp(op("Remove", "members", []any{map[string]any{"value": members[0]}})), ok...)
	// Compliant removal: a filtered path.
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+gid, patchOp(op("remove", `members[value eq "`+members[1]+`"]`, nil)), ok...)
	if got := memberIDs(); len(got) != 1 || got[0] != members[2] {
		t.Fatalf("members after both removals: %v, want [%s]", got, members[2])
	}
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+gid, patchOp(op("Replace", "displayName", name+" EMEA")), ok...)
	if d := tn.expect(t, tok, http.MethodGet, "/Groups/"+gid, nil, 200).body["displayName"]; d != name+" EMEA" {
		t.Fatalf("renamed group: %v", d)
	}
	tn.expect(t, tok, http.MethodDelete, "/Groups/"+gid, nil, http.StatusNoContent)
	tn.expect(t, tok, http.MethodGet, "/Groups/"+gid, nil, http.StatusNotFound)
	tn.expect(t, tok, http.MethodDelete, "/Groups/"+gid, nil, http.StatusNotFound)
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// rotate annotates the ScimToken as an admin would and checks both sides
// of the previous token's grace window, deterministically: the operator runs
// on operatorClock, which only this function moves, and the grace window
// (1h in testdata) is far longer than the whole e2e run, so the server,
// which checks notAfter with its own real clock, is inside the window
// whenever the operator says so. (The server's own notAfter check, on both
// sides of the instant, is TestTokenExpiresWithClock in scimserver/server.)
// It returns the new token.
func rotate(t *testing.T, tn *tenant, tokenName, old string) string {
	t.Helper()
	// One rotation at a time: the clock is shared by every tenant.
	clockMu.Lock()
	defer clockMu.Unlock()

	before := getToken(t, tokenName).Status.Revision
	patchToken(t, tokenName, func(tok *scimv1alpha1.ScimToken) {
		if tok.Annotations == nil {
			tok.Annotations = map[string]string{}
		}
		tok.Annotations[scimv1alpha1.RotateAnnotation] = uuid.NewString()
	})
	var newToken string
	var validUntil time.Time
	eventually(t, 30*time.Second, "rotation of "+tokenName, func() string {
		st := getToken(t, tokenName).Status
		if st.Revision != before+1 || st.PreviousValidUntil == nil {
			return "status not rotated yet"
		}
		if nt := tn.token(t); nt == "" || nt == old {
			return "Secret still holds the old token"
		} else {
			newToken, validUntil = nt, st.PreviousValidUntil.Time
		}
		return ""
	})
	if want := operatorClock.Now().Add(time.Hour).Truncate(time.Second); !validUntil.Equal(want) {
		t.Fatalf("previous token valid until %s, want rotation time + the 1h grace period = %s", validUntil, want)
	}
	// The server picks up the new token file from the volume's symlink swap;
	// that file also lists the previous token.
	eventually(t, 30*time.Second, "new token accepted", func() string {
		if s := tn.statusWith(t, newToken); s != http.StatusOK {
			return http.StatusText(s)
		}
		return ""
	})
	if s := tn.statusWith(t, old); s != http.StatusOK {
		t.Fatalf("old token inside its grace window (until %s): %d, want 200", validUntil.Format(time.RFC3339), s)
	}

	// The last instant of the window: still accepted. A second token,
	// issued after the clock moved, is the signal that the server reads a
	// token file the operator wrote at that instant.
	operatorClock.SetTime(validUntil.Add(-time.Nanosecond))
	probe := tokenName + "-probe-" + uuid.NewString()[:8] // its Secret outlives it until the local GC runs
	createToken(t, probe, tn.name)
	probeTenant := &tenant{name: tn.name, host: tn.host, base: tn.base, secret: probe}
	eventually(t, 30*time.Second, "probe token accepted", func() string {
		pt := probeTenant.token(t)
		if pt == "" {
			return "no probe token in its Secret yet"
		}
		if s := tn.statusWith(t, pt); s != http.StatusOK {
			return http.StatusText(s)
		}
		return ""
	})
	if s := tn.statusWith(t, old); s != http.StatusOK {
		t.Fatalf("old token refused at the last instant of its grace window (%s): %d, want 200", validUntil.Format(time.RFC3339), s)
	}
	deleteToken(t, probe)

	// The window ends: from validUntil on the old token is refused, the new
	// one still accepted.
	operatorClock.SetTime(validUntil)
	patchToken(t, tokenName, func(tok *scimv1alpha1.ScimToken) {
		if tok.Annotations == nil {
			tok.Annotations = map[string]string{}
		}
		tok.Annotations["e2e.scim.operator.dev/poke"] = uuid.NewString() // reconcile now, at the new time
	})
	eventually(t, 30*time.Second, "old token refused after its grace window", func() string {
		s := tn.statusWith(t, old)
		if s == http.StatusOK {
			return "still accepted"
		}
		if s != http.StatusUnauthorized {
			t.Fatalf("old token: %d, want 401", s)
		}
		return ""
	})
	eventually(t, 30*time.Second, "previous token forgotten in status", func() string {
		if st := getToken(t, tokenName).Status; st.PreviousHash != "" || st.PreviousValidUntil != nil {
			return "previousHash " + st.PreviousHash
		}
		return ""
	})
	if s := tn.statusWith(t, newToken); s != http.StatusOK {
		t.Fatalf("new token after the grace window: %d, want 200", s)
	}
	return newToken
}
