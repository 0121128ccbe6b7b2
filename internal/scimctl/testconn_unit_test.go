package scimctl

import (
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func answer(status int, contentType string) *http.Response {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return &http.Response{StatusCode: status, Header: h}
}

// TestJudge covers answers a real server does not give but proxies, WAFs
// and other SCIM servers do, and what the verdict says about each.
func TestJudge(t *testing.T) {
	const empty = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"itemsPerPage":0,"startIndex":1,"Resources":[]}`
	for _, tc := range []struct {
		name    string
		resp    *http.Response
		body    string
		problem string // "" for PASS
	}{
		{"empty list", answer(200, "application/scim+json"), empty, ""},
		{"empty list as application/json with charset", answer(200, "application/json; charset=utf-8"), empty, ""},
		{"no Resources key", answer(200, "application/scim+json"), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0}`, ""},
		{"HTML from a proxy", answer(200, "text/html"), "<html>login</html>", "not SCIM JSON"},
		{"totalResults as a string", answer(200, "application/scim+json"), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":"0"}`, `totalResults is not a JSON integer ("0")`},
		{"no totalResults", answer(200, "application/scim+json"), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}`, "totalResults is not a JSON integer (-)"},
		{"a JSON array", answer(200, "application/scim+json"), `[]`, "not a SCIM JSON object"},
		{"not a ListResponse", answer(200, "application/scim+json"), `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, "not a SCIM ListResponse"},
		{"a GUID matched", answer(200, "application/scim+json"), `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{}]}`, "matched 1 resource(s)"},
		{"WAF 403", answer(403, "text/html"), "<html>blocked</html>", "non-SCIM 403"},
		{"scope 403", answer(403, "application/scim+json"), `{"detail":"needs read"}`, "may not read (403: needs read)"},
		{"429", answer(429, "application/scim+json"), `{"detail":"slow down"}`, "rate-limiting (429: slow down)"},
		{"500", answer(500, "application/scim+json"), `{"detail":"boom"}`, "the server failed (500: boom)"},
		{"302 to a login page", answer(302, "text/html"), "", "the server answered 302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problem, fix := judge("/Users", tc.resp, []byte(tc.body))
			if tc.problem == "" && problem != "" {
				t.Fatalf("want PASS, got %q", problem)
			}
			if tc.problem != "" && (!strings.Contains(problem, tc.problem) || fix == "") {
				t.Fatalf("want %q with a fix, got %q / %q", tc.problem, problem, fix)
			}
		})
	}
}

// FuzzJudge: any answer gets a verdict without panicking, and a PASS is only
// ever given to a 200 SCIM ListResponse.
func FuzzJudge(f *testing.F) {
	f.Add(200, "application/scim+json", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0}`)
	f.Add(200, "application/json", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":null}`)
	f.Add(401, "application/scim+json", `{"detail":"x","scimType":"y"}`)
	f.Add(200, "text/html", `<html>`)
	f.Add(200, "application/scim+json", `[]`)
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		problem, fix := judge("/Users", answer(status, contentType), []byte(body))
		if problem == "" && (status != 200 || !strings.Contains(body, listResponseURN)) {
			t.Fatalf("PASS for %d %q %q", status, contentType, body)
		}
		if problem != "" && fix == "" {
			t.Fatalf("%q without what to do", problem)
		}
	})
}

func TestReadyPod(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, ready corev1.ConditionStatus, port string, deleted bool) corev1.Pod {
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}, {Name: port, ContainerPort: 8080}}}}},
			Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		}
		if deleted {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"none", nil, ""},
		{"pending", []corev1.Pod{pod("a", corev1.PodPending, corev1.ConditionFalse, "http", false)}, ""},
		{"running, not ready", []corev1.Pod{pod("a", corev1.PodRunning, corev1.ConditionFalse, "http", false)}, ""},
		{"terminating", []corev1.Pod{pod("a", corev1.PodRunning, corev1.ConditionTrue, "http", true)}, ""},
		{"no http port", []corev1.Pod{pod("a", corev1.PodRunning, corev1.ConditionTrue, "web", false)}, ""},
		{"the ready one", []corev1.Pod{pod("a", corev1.PodRunning, corev1.ConditionFalse, "http", false), pod("b", corev1.PodRunning, corev1.ConditionTrue, "http", false)}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, port := readyPod(tc.pods)
			switch {
			case tc.want == "" && p != nil:
				t.Fatalf("want no pod, got %s", p.Name)
			case tc.want != "" && (p == nil || p.Name != tc.want || port != 8080):
				t.Fatalf("want %s:8080, got %v:%d", tc.want, p, port)
			}
		})
	}
}
