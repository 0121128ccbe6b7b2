package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/localruntime"
)

func TestSummary(t *testing.T) {
	tenant := func(ingress *scimv1alpha1.IngressSpec, url string, conds ...metav1.Condition) scimv1alpha1.ScimTenant {
		return scimv1alpha1.ScimTenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "acme"},
			Spec:       scimv1alpha1.ScimTenantSpec{Ingress: ingress},
			Status:     scimv1alpha1.ScimTenantStatus{TenantURL: url, Conditions: conds},
		}
	}
	insecure := metav1.Condition{Type: scimv1alpha1.ConditionInsecureTenantURL, Status: metav1.ConditionTrue, Reason: scimv1alpha1.ReasonNoTLS, Message: "the Tenant URL is http://scim.example.com, which Entra refuses"}
	secure := metav1.Condition{Type: scimv1alpha1.ConditionInsecureTenantURL, Status: metav1.ConditionFalse, Reason: scimv1alpha1.ReasonTLS, Message: "https"}
	cases := []struct {
		name    string
		info    tenantInfo
		want    []string // lines (or parts of lines) in this order
		notWant []string
	}{
		{
			name: "tls tenant: https for Entra, plain http locally, no warning",
			info: tenantInfo{
				tenant:     tenant(&scimv1alpha1.IngressSpec{Host: "scim.example.com", Path: "/apps/acme", TLS: &scimv1alpha1.IngressTLS{SecretName: "tls"}}, "https://scim.example.com/apps/acme/scim/v2?aadOptscim062020", secure),
				deployment: "acme-scim", claim: "acme-scim-data",
				logFile: "/s/pods/default/acme-scim/0/server.log", dataDir: "/s/volumes/default/acme-scim-data",
				tokens: []tokenInfo{{name: "acme-entra", secret: "acme-entra", token: "scimop_x"}},
			},
			want: []string{
				"Tenant URL (Entra's field):    https://scim.example.com/apps/acme/scim/v2?aadOptscim062020",
				"Local URL:                     http://127.0.0.1:8481/apps/acme/scim/v2   (through the local ingress, with header Host: scim.example.com)",
				"Plain http is expected locally: the local ingress does not terminate TLS.",
				"Server log:                    /s/pods/default/acme-scim/0/server.log   (no Pods locally: tail -f it where a cluster has kubectl logs deploy/acme-scim)",
				"Data (sqlite, retained):       /s/volumes/default/acme-scim-data",
				"Secret Token (Entra's field):  scimop_x   (ScimToken acme-entra, Secret acme-entra)",
				"curl -sS -i -H 'Host: scim.example.com' -H 'Authorization: Bearer scimop_x' 'http://127.0.0.1:8481/apps/acme/scim/v2/Users?filter=userName+eq+%22",
				"The control plane is v1.36.3: kubectl v1.35 to v1.37 match it",
				"kubectl annotate scimtoken acme-entra scim.operator.dev/rotate=$(date +%s) --overwrite",
			},
			notWant: []string{"Warning"},
		},
		{
			name: "tenant without tls: the warning from its condition",
			info: tenantInfo{
				tenant: tenant(&scimv1alpha1.IngressSpec{Host: "scim.example.com", Path: "/apps/acme"}, "http://scim.example.com/apps/acme/scim/v2?aadOptscim062020", insecure),
				tokens: []tokenInfo{{name: "t", secret: "t", token: "scimop_y"}},
			},
			want: []string{
				"Tenant URL (Entra's field):    http://scim.example.com/apps/acme/scim/v2?aadOptscim062020",
				"Warning (NoTLS):               the Tenant URL is http://scim.example.com, which Entra refuses",
				"Plain http is expected locally",
			},
		},
		{
			name: "postgres tenant: where its data is, and its replicas",
			info: func() tenantInfo {
				tn := tenant(&scimv1alpha1.IngressSpec{Host: "scim.example.com", Path: "/apps/acme-hr"}, "https://scim.example.com/apps/acme-hr/scim/v2?aadOptscim062020", secure)
				tn.Spec.Storage = &scimv1alpha1.StorageSpec{Postgres: &scimv1alpha1.PostgresStorage{URLSecretRef: scimv1alpha1.SecretKeyRef{Name: "pg-main-app", Key: "uri"}}}
				tn.Status.Storage, tn.Status.ReadyReplicas = "postgres schema scim_default_acme_hr", 2
				return tenantInfo{tenant: tn, deployment: "acme-hr-scim", logFile: "/s/pods/default/acme-hr-scim/0/server.log"}
			}(),
			want: []string{
				"Server log:                    /s/pods/default/acme-hr-scim/0/server.log",
				"Data (postgres):               postgres schema scim_default_acme_hr, URL from Secret pg-main-app key uri; 2 replicas ready, requests spread over them",
			},
			notWant: []string{"Data (sqlite"},
		},
		{
			name: "tenant without ingress: straight to the server",
			info: tenantInfo{
				tenant:     tenant(nil, "http://acme-scim.default.svc/default/acme/scim/v2?aadOptscim062020"),
				deployment: "acme-scim", serverAddr: "127.0.0.1:40001",
			},
			want: []string{
				"Local URL:                     http://127.0.0.1:40001/default/acme/scim/v2   (the server itself: the tenant has no Ingress)",
				"No ScimToken for this tenant: create one to call it.",
			},
			notWant: []string{"Host:", "kubectl annotate"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			printSummary(&buf, []tenantInfo{tc.info}, "127.0.0.1:8481", "", "v1.36.3", "/s/kubeconfig", "/s/localrun.log")
			out := buf.String()
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("summary lacks (in order) %q:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, nw := range tc.notWant {
				if strings.Contains(out, nw) {
					t.Errorf("summary contains %q:\n%s", nw, out)
				}
			}
		})
	}
}

func TestKubectlAdvice(t *testing.T) {
	if got := kubectlAdvice(""); got != "" {
		t.Errorf("unknown version: %q, want no advice", got)
	}
	if got := kubectlAdvice("v1.36.3"); !strings.Contains(got, "kubectl v1.35 to v1.37 match it") {
		t.Errorf("advice %q", got)
	}
}

// TestBusyPortFailsWithAdvice binds a real port and checks that localrun
// refuses it before starting anything, naming the way out.
func TestBusyPortFailsWithAdvice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	cases := []struct {
		name, ingress, mirror string
		want                  []string
	}{
		{"ingress port busy", addr, "", []string{"cannot listen on " + addr, "make demo DEMO_PORT=", "--ingress-address 127.0.0.1:"}},
		{"mirror port busy", "127.0.0.1:0", addr, []string{"cannot listen on " + addr, "make demo DEMO_MIRROR_PORT=", "--mirror-address 127.0.0.1:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), "testdata-unused", t.TempDir(), tc.ingress, tc.mirror, "")
			if err == nil {
				t.Fatal("run started on a busy port")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "PORT="+port+" ") {
				t.Errorf("error %q suggests the busy port itself", err)
			}
		})
	}
}

// TestMirrorWebhookFollowsThePort reads the real samples: with the mirror on
// another port, the sample ScimWebhook delivers there; other URLs are kept.
func TestMirrorWebhookFollowsThePort(t *testing.T) {
	for _, tc := range []struct{ mirror, want string }{
		{"127.0.0.1:8590", "http://localhost:8590/webhook"},
		{"127.0.0.1:8490", "http://localhost:8490/webhook"},
	} {
		objs, err := localruntime.ReadObjects("../../config/samples")
		if err != nil {
			t.Fatal(err)
		}
		external := &unstructured.Unstructured{Object: map[string]any{
			"kind": "ScimWebhook", "spec": map[string]any{"url": "https://hooks.example.com:8490/webhook"},
		}}
		objs = append(objs, external)
		retargetMirrorWebhooks(objs, tc.mirror)
		found := false
		for _, o := range objs {
			if o.GetKind() == "ScimWebhook" && o.GetName() == "acme-mirror" {
				found = true
				if got, _, _ := unstructured.NestedString(o.Object, "spec", "url"); got != tc.want {
					t.Errorf("mirror on %s: sample webhook url %q, want %q", tc.mirror, got, tc.want)
				}
			}
		}
		if !found {
			t.Fatal("no ScimWebhook acme-mirror in config/samples")
		}
		if got, _, _ := unstructured.NestedString(external.Object, "spec", "url"); got != "https://hooks.example.com:8490/webhook" {
			t.Errorf("a non-local webhook was rewritten to %q", got)
		}
	}
}
