package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// wantError checks a 400 with the scimType and a detail mentioning each of
// parts.
func (r *resp) wantError(t testing.TB, scimType string, parts ...string) {
	t.Helper()
	r.want(t, http.StatusBadRequest)
	if got := r.str(t, "/scimType"); got != scimType {
		t.Fatalf("scimType %q, want %q; body %s", got, scimType, r.raw)
	}
	for _, p := range parts {
		if d := r.str(t, "/detail"); !strings.Contains(d, p) {
			t.Fatalf("detail %q lacks %q", d, p)
		}
	}
}

func (e *env) findUser(userName string) int {
	e.t.Helper()
	return e.get("/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`)).want(e.t, 200).num(e.t, "/totalResults")
}

// Issue #9 item 8: invalid UTF-8 used to be stored as U+FFFD, and a second,
// different invalid name then got a false 409.
func TestInvalidUTF8IsRefused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body, detail string }{
		{"invalid bytes", "{\"userName\":\"bad\xff\xfe@x\"}", "not valid UTF-8 (first bad byte 0xff at offset 16)"},
		{"other invalid bytes", "{\"userName\":\"bad\xfe\xff@x\"}", "not valid UTF-8"},
		{"truncated sequence", "{\"userName\":\"bad\xe2\x82@x\"}", "not valid UTF-8"},
		{"lone high surrogate escape", `{"userName":"bad\ud800@x"}`, `\ud800 at offset 16 is an unpaired UTF-16 surrogate`},
		{"lone low surrogate escape", `{"userName":"bad\uDC00@x"}`, "unpaired"},
		{"high surrogate followed by a non-surrogate", `{"userName":"bad\ud83d\u0041"}`, "unpaired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.post("/Users", tc.body).wantError(t, "invalidValue", tc.detail)
		})
	}
	if n := e.get("/Users").want(t, 200).num(t, "/totalResults"); n != 0 {
		t.Fatalf("%d users stored from invalid text", n)
	}

	// What is valid stays accepted and verbatim: a surrogate pair, an
	// escaped backslash before "ud800", and U+FFFD sent on purpose.
	for body, want := range map[string]string{
		`{"userName":"smile\ud83d\ude00@x"}`: "smile\U0001F600@x",
		`{"userName":"path\\ud800@x"}`:       `path\ud800@x`,
		"{\"userName\":\"r\uFFFD@x\"}":       "r\uFFFD@x",
		`{"userName":"e\ufffd@x"}`:           "e\uFFFD@x",
	} {
		if got := e.post("/Users", body).want(t, 201).str(t, "/userName"); got != want {
			t.Errorf("%s stored as %q, want %q", body, got, want)
		}
	}

	// PATCH and .search bodies pass the same check.
	id := e.post("/Users", user("patched@x")).want(t, 201).str(t, "/id")
	e.do(req{method: http.MethodPatch, path: "/Users/" + id,
		body: "{\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"J\xc3\"}]}"}).wantError(t, "invalidValue", "UTF-8")
	e.post("/Users/.search", "{\"filter\":\"userName eq \\\"\xff\\\"\"}").wantError(t, "invalidValue", "UTF-8")
	if got := e.get("/Users/"+id).want(t, 200).raw; strings.Contains(string(got), "displayName") {
		t.Fatalf("the refused PATCH changed the user: %s", got)
	}
}

// Issue #9 item 9: userName's type, blank names, surrounding white space
// and size.
func TestUserNameAndDisplayNameValidation(t *testing.T) {
	e := newEnv(t)
	bob := e.post("/Users", user("bob")).want(t, 201).str(t, "/id")

	e.post("/Users", map[string]any{"userName": 12345}).wantError(t, "invalidValue", `"userName": expected a string, got number 12345`)
	e.post("/Users", user("   ")).wantError(t, "invalidValue", `"userName" must not be blank`)
	e.post("/Users", user(" bob")).wantError(t, "invalidValue", `"userName" must not begin or end with white space, got " bob"`)
	e.post("/Users", user("bob\t")).wantError(t, "invalidValue", "white space")
	e.patch("/Users/"+bob, op("replace", "userName", "bob ")).wantError(t, "invalidValue", "white space")
	e.patch("/Users/"+bob, op("replace", "", map[string]any{"userName": 7})).wantError(t, "invalidValue", "expected a string")
	// A number where any string belongs is refused, as objects and arrays are.
	e.post("/Users", user("num", "title", 3)).wantError(t, "invalidValue", `"title": expected a string, got number 3`)

	// 3.5 MiB userName: refused with the limit in the message (it used to
	// be stored).
	huge := strings.Repeat("x", 3<<20+1<<19)
	e.post("/Users", user(huge)).wantError(t, "invalidValue", `"userName" is 3670016 bytes long; the limit is 1024 bytes`)
	e.post("/Users", user("big", "title", strings.Repeat("t", 16<<10+1))).wantError(t, "invalidValue", "the limit is 16384 bytes")

	// The filter Entra sends finds exactly what was stored; the refused
	// twins were never stored.
	if n := e.findUser("bob"); n != 1 {
		t.Fatalf(`userName eq "bob" found %d users`, n)
	}
	if n := e.findUser(" bob"); n != 0 {
		t.Fatalf(`userName eq " bob" found %d users`, n)
	}
	if n := e.get("/Users").want(t, 200).num(t, "/totalResults"); n != 1 {
		t.Fatalf("%d users stored, want only bob", n)
	}
	// Inner white space is kept verbatim and found.
	e.post("/Users", user("jane  doe")).want(t, 201)
	if n := e.findUser("jane  doe"); n != 1 {
		t.Fatalf("found %d", n)
	}

	e.post("/Groups", group(" ")).wantError(t, "invalidValue", `"displayName" must not be blank`)
	e.post("/Groups", group("Sales ")).wantError(t, "invalidValue", "white space")
	e.post("/Groups", group(strings.Repeat("g", 1025))).wantError(t, "invalidValue", "the limit is 1024 bytes")
	e.post("/Groups", map[string]any{"displayName": 42}).wantError(t, "invalidValue", "expected a string")
}

// Issue #9 item 10 and #15 item 4: a bare string for a multi-valued complex
// attribute is refused (Entra never sends one, contract §2.4, §2.10); a
// single object is a list of one (OneLogin's emails).
func TestMultiValuedShapes(t *testing.T) {
	e := newEnv(t)
	e.post("/Users", user("a@x", "emails", "a@x")).wantError(t, "invalidValue", `"emails" is multi-valued: send an array of objects such as [{"value": "a@x"}]`)
	e.post("/Users", user("a@x", "emails", []any{"a@x"})).wantError(t, "invalidValue", `"emails[0]": each element of "emails" is an object`)
	r := e.post("/Users", user("a@x", "emails", map[string]any{"value": "a@x", "type": "work"})).want(t, 201)
	if r.str(t, "/emails/0/value") != "a@x" || r.str(t, "/emails/0/type") != "work" {
		t.Fatalf("single email object not stored as a list of one: %s", r.raw)
	}
	id := r.str(t, "/id")
	e.patch("/Users/"+id, op("add", "phoneNumbers", "+1 555")).wantError(t, "invalidValue", "multi-valued")
	r = e.patch("/Users/"+id, op("add", "phoneNumbers", map[string]any{"value": "+1 555", "type": "work"})).want(t, 200)
	if r.str(t, "/phoneNumbers/0/value") != "+1 555" {
		t.Fatalf("PATCH single phone object: %s", r.raw)
	}
	// "" still clears (Entra's null-update test).
	r = e.patch("/Users/"+id, op("replace", "phoneNumbers", "")).want(t, 200)
	if _, ok := at(r.json, "/phoneNumbers"); ok {
		t.Fatalf(`"" did not clear phoneNumbers: %s`, r.raw)
	}
}
