package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/test/testenv"
)

// These tests install the generated CRDs into a real kube-apiserver and check
// what admission accepts, rejects (with which message) and defaults.

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var seq int

// object builds an unstructured ScimTenant or ScimToken with a unique name.
func object(t *testing.T, kind, spec string) *unstructured.Unstructured {
	t.Helper()
	seq++
	u := &unstructured.Unstructured{}
	doc := fmt.Sprintf("apiVersion: scim.operator.dev/v1alpha1\nkind: %s\nmetadata:\n  name: obj-%d\n  namespace: default\nspec:\n%s", kind, seq, indent(spec))
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, doc)
	}
	return u
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func TestTenantAdmission(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		spec    string
		wantErr string // "" means accepted
	}{
		{"empty spec takes every default", `{}`, ""},
		{"users only", `resourceTypes: [User]`, ""},
		{"groups without users", `resourceTypes: [Group]`, "resourceTypes must include User"},
		{"unknown resource type", `resourceTypes: [User, Device]`, `Unsupported value: "Device"`},
		{"ingress ok", "ingress:\n  host: scim.example.com\n  path: /apps/acme\n  tls: {secretName: scim-tls}", ""},
		{"host with scheme", "ingress:\n  host: https://scim.example.com", "host must be a lowercase DNS name"},
		{"host with port", "ingress:\n  host: scim.example.com:443", "host must be a lowercase DNS name"},
		{"host uppercase", "ingress:\n  host: SCIM.example.com", "host must be a lowercase DNS name"},
		{"host wildcard", "ingress:\n  host: '*.example.com'", "host must be a lowercase DNS name"},
		{"path without slash", "ingress:\n  host: scim.example.com\n  path: acme", "path must start with /"},
		{"path with trailing slash", "ingress:\n  host: scim.example.com\n  path: /acme/", "path must not end with /"},
		{"path with query", "ingress:\n  host: scim.example.com\n  path: /acme?x", "path segments may contain only"},
		{"bad tls secret", "ingress:\n  host: scim.example.com\n  tls: {secretName: Bad_Name}", "tls.secretName must be a valid Secret name"},
		{"both storages", "storage:\n  sqlite: {}\n  postgres: {urlSecretRef: {name: pg}}", "set either sqlite or postgres, not both"},
		{"no storage", "storage: {}", "storage: set sqlite or postgres"},
		{"postgres", "storage:\n  postgres: {urlSecretRef: {name: pg}}\nreplicas: 3", ""},
		{"replicas on sqlite", "replicas: 2", "spec.replicas: Invalid value"},
		{"replicas 3 on sqlite names the fix", "replicas: 3", "replicas greater than 1 need storage.postgres"},
		{"replicas zero", "replicas: 0", ""},
		{"bad deletion policy", "storage:\n  sqlite: {deletionPolicy: Forget}", `Unsupported value: "Forget"`},
		{"required attributes", "schema:\n  requiredUserAttributes: [name.givenName, 'emails[type eq \"work\"].value', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department']", ""},
		{"bad required attribute", "schema:\n  requiredUserAttributes: ['given name']", "requiredUserAttributes entries must be SCIM attribute paths"},
		{"extension ok", "schema:\n  extensions:\n  - urn: urn:ietf:params:scim:schemas:extension:acme:2.0:User\n    attributes: [{name: badge, type: string}, {name: clearance, type: integer}]", ""},
		{"extension not a urn", "schema:\n  extensions:\n  - urn: acme-extension\n    attributes: [{name: badge}]", "urn must be a URN"},
		{"extension shadows core", "schema:\n  extensions:\n  - urn: urn:ietf:params:scim:schemas:core:2.0:User\n    attributes: [{name: badge}]", "must not be a core or enterprise schema"},
		{"extension attribute names clash by case", "schema:\n  extensions:\n  - urn: urn:acme:User\n    attributes: [{name: badge}, {name: Badge}]", "attribute names must be unique ignoring case"},
		{"extension attribute bad name", "schema:\n  extensions:\n  - urn: urn:acme:User\n    attributes: [{name: 'badge.number'}]", "attribute name must start with a letter"},
		{"extension attribute bad type", "schema:\n  extensions:\n  - urn: urn:acme:User\n    attributes: [{name: badge, type: blob}]", `Unsupported value: "blob"`},
		{"unknown attributes rejected", "schema:\n  unknownAttributes: Reject", ""},
		{"unknown attributes ignored", "schema:\n  unknownAttributes: Ignore", ""},
		{"unknown attributes bad policy", "schema:\n  unknownAttributes: Drop", `Unsupported value: "Drop"`},
		{"rate limit ok", "rateLimit: {requestsPerSecond: 50, burst: 100}", ""},
		{"rate limit burst below rate", "rateLimit: {requestsPerSecond: 50, burst: 10}", "rateLimit.burst must be at least requestsPerSecond"},
		{"rate limit zero", "rateLimit: {requestsPerSecond: 0}", "should be greater than or equal to 1"},
		{"network policy defaults", "networkPolicy: {}", ""},
		{"network policy ok", "networkPolicy:\n  ingressControllerNamespace: traefik\n  ingressNamespaces: [reporting]\n  monitoringNamespaceSelector: {matchLabels: {team: observability}}", ""},
		{"network policy bad controller namespace", "networkPolicy: {ingressControllerNamespace: Ingress_NGINX}", "ingressControllerNamespace must be a namespace name"},
		{"network policy bad namespace", "networkPolicy: {ingressNamespaces: [ok, 'not ok']}", "ingressNamespaces must be namespace names"},
		{"events retention ok", "events: {retention: 168h}", ""},
		{"events retention as metav1 renders it", "events: {retention: 720h0m0s}", ""},
		{"events retention too short", "events: {retention: 30m}", "events.retention must be at least 1h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, object(t, "ScimTenant", tc.spec))
			checkAdmission(t, err, tc.wantErr)
		})
	}
}

// TestOneMessagePerMistake: a user who makes one mistake reads one message,
// at the field to change, not a second rule's misleading complaint.
func TestOneMessagePerMistake(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, kind, spec string
		want             string // the whole admission message of the object
	}{
		{"trailing slash", "ScimTenant", "ingress:\n  host: scim.example.com\n  path: /acme/",
			`spec.ingress.path: Invalid value: "/acme/": path must not end with /: the tenant URL appends /scim/v2 to it`},
		{"no leading slash", "ScimTenant", "ingress:\n  host: scim.example.com\n  path: acme",
			`spec.ingress.path: Invalid value: "acme": path must start with /, for example /acme`},
		{"replicas on sqlite", "ScimTenant", "replicas: 3",
			`spec.replicas: Invalid value: replicas greater than 1 need storage.postgres: the sqlite database is a single file on one volume and has one writer; set replicas: 1 or use storage.postgres`},
		{"grace longer than interval", "ScimToken", "tenantRef: {name: acme}\nrotation: {interval: 1h, gracePeriod: 2h}",
			`spec.rotation.gracePeriod: Invalid value: rotation.gracePeriod must not be longer than rotation.interval: at most two tokens may be valid at once; shorten gracePeriod, or leave it unset to get 24h or the interval, whichever is shorter`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.kind, tc.spec)
			err := env.Client.Create(ctx, u)
			if err == nil {
				t.Fatal("accepted an invalid object")
			}
			want := fmt.Sprintf("%s.scim.operator.dev %q is invalid: %s", tc.kind, u.GetName(), tc.want)
			if err.Error() != want {
				t.Errorf("admission says\n  %s\nwant exactly\n  %s", err.Error(), want)
			}
		})
	}
}

func TestTokenAdmission(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		spec    string
		wantErr string
	}{
		{"minimal", "tenantRef: {name: acme}", ""},
		{"no tenant", "scopes: [read]", "tenantRef: Required value"},
		{"read only", "tenantRef: {name: acme}\nscopes: [read]", ""},
		{"unknown scope", "tenantRef: {name: acme}\nscopes: [admin]", `Unsupported value: "admin"`},
		{"no scopes", "tenantRef: {name: acme}\nscopes: []", "should have at least 1 items"},
		{"rotation ok", "tenantRef: {name: acme}\nrotation: {interval: 720h, gracePeriod: 24h}", ""},
		{"grace longer than interval", "tenantRef: {name: acme}\nrotation: {interval: 1h, gracePeriod: 2h}", "spec.rotation.gracePeriod: Invalid value"},
		{"short interval without grace", "tenantRef: {name: acme}\nrotation: {interval: 1h}", ""},
		{"interval too short", "tenantRef: {name: acme}\nrotation: {interval: 10s, gracePeriod: 1s}", "rotation.interval must be at least 1m"},
		{"interval not a duration", "tenantRef: {name: acme}\nrotation: {interval: monthly}", "should match"},
		{"expiry ok", "tenantRef: {name: acme}\nexpiresAfter: 2160h\nrotation: {interval: 720h}", ""},
		{"expiry before rotation", "tenantRef: {name: acme}\nexpiresAfter: 240h\nrotation: {interval: 720h}", "rotation.interval must not be longer than expiresAfter"},
		{"expiry too short", "tenantRef: {name: acme}\nexpiresAfter: 5s", "expiresAfter must be at least 1m"},
		{"bad secret name", "tenantRef: {name: acme}\nsecretName: My_Secret", "secretName must be a valid Secret name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(ctx, object(t, "ScimToken", tc.spec))
			checkAdmission(t, err, tc.wantErr)
		})
	}
}

func checkAdmission(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("rejected a valid object: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("accepted an invalid object; want an error containing %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error %q does not contain %q", err.Error(), wantErr)
	}
}

func TestImmutableFields(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, kind, spec string
		mutate           func(u *unstructured.Unstructured)
		wantErr          string
	}{
		{"tenantRef", "ScimToken", "tenantRef: {name: acme}", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "other", "spec", "tenantRef", "name")
		}, "tenantRef is immutable"},
		{"secretName changed", "ScimToken", "tenantRef: {name: acme}\nsecretName: one", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "two", "spec", "secretName")
		}, "secretName is immutable"},
		{"secretName added", "ScimToken", "tenantRef: {name: acme}", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, "two", "spec", "secretName")
		}, "secretName is immutable"},
		{"storage type", "ScimTenant", "storage: {sqlite: {}}", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedMap(u.Object, map[string]any{"postgres": map[string]any{"urlSecretRef": map[string]any{"name": "pg"}}}, "spec", "storage")
		}, "storage type cannot change"},
		{"revoke is allowed", "ScimToken", "tenantRef: {name: acme}", func(u *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(u.Object, true, "spec", "revoked")
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.kind, tc.spec)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("create: %v", err)
			}
			tc.mutate(u)
			checkAdmission(t, env.Client.Update(ctx, u), tc.wantErr)
		})
	}
}

func TestDefaults(t *testing.T) {
	ctx := context.Background()
	tenant := object(t, "ScimTenant", "{}")
	if err := env.Client.Create(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	var got scimv1alpha1.ScimTenant
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tenant), &got); err != nil {
		t.Fatal(err)
	}
	if want := []scimv1alpha1.ResourceType{"User", "Group"}; fmt.Sprint(got.Spec.ResourceTypes) != fmt.Sprint(want) {
		t.Errorf("resourceTypes = %v, want %v", got.Spec.ResourceTypes, want)
	}
	if got.Spec.Replicas == nil || *got.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", got.Spec.Replicas)
	}
	sq := got.Spec.SQLite()
	if sq == nil || sq.Size == nil || sq.Size.String() != "1Gi" || sq.DeletionPolicy != scimv1alpha1.DeletionPolicyRetain {
		t.Errorf("storage = %+v, want sqlite 1Gi Retain", got.Spec.Storage)
	}

	withEvents := object(t, "ScimTenant", "events: {}")
	if err := env.Client.Create(ctx, withEvents); err != nil {
		t.Fatal(err)
	}
	var ev scimv1alpha1.ScimTenant
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(withEvents), &ev); err != nil {
		t.Fatal(err)
	}
	if r := ev.Spec.Events.Retention; r == nil || r.Duration != 720*time.Hour {
		t.Errorf("events.retention = %v, want 720h", r)
	}

	token := object(t, "ScimToken", "tenantRef: {name: acme}")
	if err := env.Client.Create(ctx, token); err != nil {
		t.Fatal(err)
	}
	var tok scimv1alpha1.ScimToken
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(token), &tok); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tok.Spec.Scopes) != "[read write]" {
		t.Errorf("scopes = %v, want [read write]", tok.Spec.Scopes)
	}
	// No rotation is stored: the operator applies the grace default (24h, or
	// the interval when shorter; see controllers.gracePeriod), so a short
	// interval alone stays valid.
	if tok.Spec.Rotation != nil {
		t.Errorf("rotation defaulted to %+v, want unset (rotate on demand, grace applied by the operator)", tok.Spec.Rotation)
	}

	short := object(t, "ScimToken", "tenantRef: {name: acme}\nrotation: {interval: 1h}")
	if err := env.Client.Create(ctx, short); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(short), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Spec.Rotation == nil || tok.Spec.Rotation.GracePeriod != nil {
		t.Errorf("rotation = %+v, want interval 1h and no stored gracePeriod", tok.Spec.Rotation)
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "scim_*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want the ScimTenant and ScimToken samples in config/samples, found %v (%v)", files, err)
	}
	// The PostgreSQL samples (make demo DEMO_POSTGRES_URL=...) too.
	pg, err := filepath.Glob(filepath.Join(root, "config", "samples", "postgres", "scim_*.yaml"))
	if err != nil || len(pg) < 2 {
		t.Fatalf("want the ScimTenant and ScimToken samples in config/samples/postgres, found %v (%v)", pg, err)
	}
	files = append(files, pg...)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(raw, &u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u.SetNamespace("default")
		if err := env.Client.Create(ctx, u); err != nil {
			t.Errorf("%s rejected: %v", filepath.Base(f), err)
		}
	}
}
