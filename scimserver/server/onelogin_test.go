package server

import (
	"testing"
)

// Issue #15 item 3: OneLogin's enterprise template sends the manager as
// {"managerId": id} (the SCIM 1.1 name). It is stored and returned as every
// other manager shape is, {"value", "$ref"}, on create and on PATCH, and
// never dropped.
func TestOneLoginManagerIDAlias(t *testing.T) {
	e := newEnv(t)
	boss := e.post("/Users", user("boss@x")).want(t, 201).str(t, "/id")
	boss2 := e.post("/Users", user("boss2@x")).want(t, 201).str(t, "/id")
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	r := e.post("/Users", user("emp@x", ent, map[string]any{"manager": map[string]any{"managerId": boss}, "department": "R&D"})).want(t, 201)
	id := r.str(t, "/id")
	if got := r.str(t, "/"+ent+"/manager/value"); got != boss {
		t.Fatalf("manager %q, want %q: %s", got, boss, r.raw)
	}
	if ref := r.str(t, "/"+ent+"/manager/$ref"); ref != e.ts.URL+basePath+"/Users/"+boss {
		t.Fatalf("$ref %q", ref)
	}
	if _, ok := at(r.json, "/"+ent+"/manager/managerId"); ok {
		t.Fatalf("managerId echoed back: %s", r.raw)
	}
	r = e.patch("/Users/"+id, op("replace", ent+":manager", map[string]any{"managerId": boss2})).want(t, 200)
	if got := r.str(t, "/"+ent+"/manager/value"); got != boss2 {
		t.Fatalf("PATCH managerId: manager %q, want %q", got, boss2)
	}
	// displayName is read-only: alone it changes nothing (it never did).
	e.patch("/Users/"+id, op("replace", ent+":manager", map[string]any{"displayName": "Boss"})).want(t, 200)
	e.patch("/Users/"+id, op("replace", "manager", map[string]any{"value": boss, "managerId": boss2})).
		wantError(t, "invalidValue", "name different managers")
	if got := e.get("/Users/"+id).want(t, 200).str(t, "/"+ent+"/manager/value"); got != boss2 {
		t.Fatalf("a refused PATCH changed the manager to %q", got)
	}
	// {"managerId": ""} removes, as {"value": ""} does.
	r = e.patch("/Users/"+id, op("replace", ent+":manager", map[string]any{"managerId": ""})).want(t, 200)
	if _, ok := at(r.json, "/"+ent+"/manager"); ok {
		t.Fatalf("manager not removed: %s", r.raw)
	}
}
