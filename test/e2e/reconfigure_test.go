package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestReconfiguringATenantRollsTheServerOut: a spec change reaches the
// server through a new pod template (the config hash), the new process
// serves the new configuration, and the data is still there.
func TestReconfiguringATenantRollsTheServerOut(t *testing.T) {
	t.Parallel()
	apply(t, "reconfigured.yaml")
	tn := readyTenant(t, "e2e-reconf", "e2e-reconf-entra")
	tok := tn.token(t)
	before := rt.ServerAddr(ns, tn.name+"-scim")
	u := entraUser("before@contoso.com", "before", false)
	delete(u, "name")
	id := tn.expect(t, tok, http.MethodPost, "/Users", u, 201).body["id"].(string)

	st := &scimv1alpha1.ScimTenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tn.name}}
	patch := []byte(`{"spec":{"schema":{"requiredUserAttributes":["name.familyName"]}}}`)
	if err := k8s.Patch(context.Background(), st, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "server restarted with the new configuration", func() string {
		if addr := rt.ServerAddr(ns, tn.name+"-scim"); addr == before || addr == "" {
			return "still the old process"
		}
		u := entraUser("after@contoso.com", "after", false)
		delete(u, "name")
		if s := tn.call(t, tok, http.MethodPost, "/Users", u).status; s != http.StatusBadRequest {
			return "a user without name.familyName got " + http.StatusText(s)
		}
		return ""
	})
	tn.expect(t, tok, http.MethodGet, "/Users/"+id, nil, 200)
}
