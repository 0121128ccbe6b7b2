package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// A replay file (testdata/replay/*.json) is a list of requests exactly as
// Entra ID, the SCIM Validator or the gallery Logic App send them (contract
// sections 2, 5 and 6), each with the answer they require. Files run in
// order against a fresh server with a real SQLite store.
//
// Strings in path, body and expectations may use {{name}}, a value saved
// by an earlier step ("save": {"name": "/id"}). Expectations use pointers
// like "/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager/value".
//
// Dropped lists, as "ResourceType:name", every attribute the file sends
// that no served schema defines: after the replay the server's status
// document must report exactly these (so Entra's standard shapes never
// count as dropped), and TestReplayStrict expects a step sending one of
// them to be refused when the tenant rejects unknown attributes.
type replayFile struct {
	Doc     string         `json:"doc"`
	Config  *config.Tenant `json:"config"`
	Dropped []string       `json:"dropped"`
	Steps   []replayStep   `json:"steps"`
}

type replayStep struct {
	Name string `json:"name"`
	// Cite names the documentation the request's shape comes from (the
	// provider replays); a shape no documentation shows says so here.
	Cite    string            `json:"cite"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Header  map[string]string `json:"header"`
	Body    json.RawMessage   `json:"body"`
	Status  int               `json:"status"`
	Save    map[string]string `json:"save"`    // var -> pointer into the answer
	Expect  map[string]any    `json:"expect"`  // pointer -> exact JSON value
	Absent  []string          `json:"absent"`  // pointers that must not exist
	Headers map[string]string `json:"headers"` // header -> regexp the answer's header must match
	Len     map[string]int    `json:"len"`     // pointer -> array length
	// Unknown marks a step that sends an attribute listed in Dropped:
	// under TestReplayStrict it must answer 400 invalidValue instead of
	// Status, and its expectations are skipped.
	Unknown bool `json:"unknown"`
}

var varRef = regexp.MustCompile(`\{\{([A-Za-z0-9_]+)(\|upper)?\}\}`)

func expand(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name, upper := strings.CutSuffix(m[2:len(m)-2], "|upper")
		v, ok := vars[name]
		if !ok {
			t.Fatalf("variable %s not saved yet", name)
		}
		if upper {
			return strings.ToUpper(v)
		}
		return v
	})
}

func TestReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no replay files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) { runReplay(t, f, false) })
	}
}

// TestReplayStrict replays every file against a tenant that rejects
// unknown attributes: Entra's (and every other provider's) standard shapes
// must pass unchanged, and only the steps marked unknown are refused.
func TestReplayStrict(t *testing.T) {
	files, err := filepath.Glob("testdata/replay/*.json")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/cycle/entra-provisioning-cycle.json")
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) { runReplay(t, f, true) })
	}
}

func runReplay(t *testing.T, file string, strict bool, opts ...envOption) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rf replayFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	cfg := config.Default()
	if rf.Config != nil {
		cfg = rf.Config
	}
	if strict {
		cfg.UnknownAttributes = config.UnknownReject
	}
	e := newEnv(t, append([]envOption{withConfig(cfg)}, opts...)...)
	vars := map[string]string{"host": e.ts.Listener.Addr().String()}
	for i, st := range rf.Steps {
		label := fmt.Sprintf("step %d %q (%s %s)", i+1, st.Name, st.Method, st.Path)
		r := req{method: st.Method, path: expand(t, st.Path, vars), header: map[string]string{}}
		if len(st.Body) > 0 {
			r.body = expand(t, string(st.Body), vars)
		}
		for k, v := range st.Header {
			r.header[k] = expand(t, v, vars)
		}
		if tok, ok := st.Header["Authorization"]; ok {
			delete(r.header, "Authorization")
			tok = strings.TrimSpace(tok)
			if tok == "" {
				r.token = strp("")
			} else {
				r.header["Authorization"] = tok
				r.token = strp("")
			}
		}
		got := e.do(r)
		if strict && st.Unknown {
			if got.status != http.StatusBadRequest || got.json["scimType"] != "invalidValue" {
				t.Fatalf("%s: strict mode answered %d, want 400 invalidValue\n%s", label, got.status, got.raw)
			}
			continue
		}
		checkStep(t, label, st, got, vars)
	}
	checkDropped(t, e, rf.Dropped, strict)
	checkNoStoredPassword(t, e)
}

// checkNoStoredPassword reads every user as the store holds it (SQLite or
// PostgreSQL), not as rendered: a replay that sends passwords (Okta's)
// leaves none stored.
func checkNoStoredPassword(t *testing.T, e *env) {
	t.Helper()
	page, err := e.srv.store.List(context.Background(), store.User, store.Query{Count: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Resources {
		if _, ok := r.Doc["password"]; ok || bytes.Contains(r.Raw, []byte(`"password"`)) {
			t.Fatalf("user %s is stored with a password: %v", r.ID, r.Doc)
		}
	}
}

// checkDropped compares the server's status document with the attributes
// a replay file declares it sends unknown. A strict server reports the
// first unknown name of each refused request, so it must report some of
// them and nothing else.
func checkDropped(t *testing.T, e *env, want []string, strict bool) {
	t.Helper()
	dropped, rejected := e.srv.unknown.snapshot()
	if strict {
		dropped = rejected
	}
	var names []string
	for _, d := range dropped {
		names = append(names, d.ResourceType+":"+d.Name)
	}
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strict {
		for _, n := range names {
			if !slices.Contains(want, n) {
				t.Fatalf("rejected attribute %q is not in the file's \"dropped\" %q", n, want)
			}
		}
		if (len(names) == 0) != (len(want) == 0) {
			t.Fatalf("rejected attributes %q, want some of %q", names, want)
		}
		return
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("dropped attributes %q, want %q (the file's \"dropped\")", names, want)
	}
}

func checkStep(t *testing.T, label string, st replayStep, got *resp, vars map[string]string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\nanswer %d %v\n%s", label, fmt.Sprintf(format, args...), got.status, got.header, got.raw)
	}
	if got.status != st.Status {
		fail("status %d, want %d", got.status, st.Status)
	}
	// Invariants of every answer: the SCIM type, or the plain JSON type a
	// client (OneLogin) asks for with Accept.
	wantType := ContentType
	if strings.HasPrefix(st.Header["Accept"], "application/json") {
		wantType = "application/json"
	}
	if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
		fail("Content-Type %q, want %s", ct, wantType)
	}
	if got.status >= 400 {
		if s, _ := got.json["status"].(string); s != itoa(got.status) || !hasSchema(got.json, errorURN) {
			fail("not a SCIM error body with a string status")
		}
	}
	if got.status == http.StatusCreated {
		loc := got.header.Get("Location")
		if loc == "" || got.header.Get("ETag") == "" {
			fail("201 without Location or ETag")
		}
		if m, _ := got.json["meta"].(map[string]any); m == nil || m["location"] != loc || m["version"] != got.header.Get("ETag") {
			fail("meta.location/version do not match Location/ETag")
		}
	}
	if got.status == http.StatusOK && got.json != nil && got.json["id"] != nil {
		if m, _ := got.json["meta"].(map[string]any); m == nil || m["version"] != got.header.Get("ETag") {
			fail("ETag %q does not match meta.version", got.header.Get("ETag"))
		}
	}
	if got.status == http.StatusOK && hasSchema(got.json, "urn:ietf:params:scim:api:messages:2.0:ListResponse") {
		for _, k := range []string{"/totalResults", "/startIndex", "/itemsPerPage"} {
			got.num(t, k)
		}
		if _, ok := got.json["Resources"].([]any); !ok {
			fail("Resources is not an array")
		}
	}
	for h, pattern := range st.Headers {
		re, err := regexp.Compile(expand(t, pattern, vars))
		if err != nil {
			t.Fatal(err)
		}
		if v := got.header.Get(h); !re.MatchString(v) {
			fail("header %s %q does not match %s", h, v, pattern)
		}
	}
	keys := make([]string, 0, len(st.Expect))
	for k := range st.Expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, p := range keys {
		want := expandValue(t, st.Expect[p], vars)
		v, ok := at(got.json, expand(t, p, vars))
		if !ok {
			fail("%s missing", p)
		}
		if !jsonEqual(v, want) {
			fail("%s = %#v, want %#v", p, v, want)
		}
	}
	for _, p := range st.Absent {
		if v, ok := at(got.json, expand(t, p, vars)); ok {
			fail("%s present (%#v), want absent", p, v)
		}
	}
	for p, n := range st.Len {
		v, ok := at(got.json, p)
		list, isList := v.([]any)
		if !ok || !isList || len(list) != n {
			fail("%s has %d elements, want %d", p, len(list), n)
		}
	}
	for name, p := range st.Save {
		v, ok := at(got.json, p)
		s, isStr := v.(string)
		if !ok || !isStr {
			fail("cannot save %s from %s", name, p)
		}
		vars[name] = s
	}
}

// jsonEqual compares a decoded answer value (json.Number) with an
// expectation decoded from the replay file (float64).
func jsonEqual(got, want any) bool {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	_ = json.Unmarshal(w, &wv)
	return reflect.DeepEqual(gv, wv)
}

// expandValue substitutes variables anywhere inside an expected value.
func expandValue(t *testing.T, v any, vars map[string]string) any {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal([]byte(expand(t, string(raw), vars)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProvisioningCycle replays a whole Entra provisioning run, in the order
// the provisioning engine sends it, against one server.
func TestProvisioningCycle(t *testing.T) {
	runReplay(t, "testdata/cycle/entra-provisioning-cycle.json", false)
}
