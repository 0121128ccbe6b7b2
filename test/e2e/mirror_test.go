package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/examples/directory-mirror/mirror"
	"github.com/scim-operator/scim-operator/localruntime"
)

// TestWebhookMirrorsTheDirectory runs a full Entra cycle (create, update,
// token rotation, disable, re-enable, group membership, delete) against a
// tenant with a ScimWebhook to the example directory mirror, then
// deprovisions a user by disabling it. At the end the mirror equals the
// directory read over SCIM, the disable and the delete reached it, and the
// ScimWebhook reports everything delivered.
func TestWebhookMirrorsTheDirectory(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := localruntime.StartMirror(ctx, k8s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apply(t, "webhook-mirror.yaml")
	_, port, _ := strings.Cut(m.Addr, ":")
	wh := &scimv1alpha1.ScimWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "e2e-hook-mirror"},
		Spec: scimv1alpha1.ScimWebhookSpec{
			TenantRef: scimv1alpha1.TenantReference{Name: "e2e-hook"},
			URL:       "http://localhost:" + port + "/webhook",
		},
	}
	if err := k8s.Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), wh) })
	tn := readyTenant(t, "e2e-hook", "e2e-hook-entra-token")

	entraCycle(t, tn, "e2e-hook-entra", true)

	// Deprovisioning that stays: a user disabled and another deleted.
	tok := tn.token(t)
	leaver := tn.expect(t, tok, http.MethodPost, "/Users", entraUser("leaver."+tn.name+"@contoso.com", "leaver", true), 201).body["id"].(string)
	gone := tn.expect(t, tok, http.MethodPost, "/Users", entraUser("gone."+tn.name+"@contoso.com", "gone", true), 201).body["id"].(string)
	boss := listUserID(t, tn, tok, "boss."+tn.name+"@contoso.com")
	team := tn.expect(t, tok, http.MethodPost, "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": "Team " + tn.name,
	}, 201).body["id"].(string)
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+team, patchOp(op("Add", "members", []any{
		map[string]any{"value": boss}, map[string]any{"value": leaver}, map[string]any{"value": gone},
	})), http.StatusOK, http.StatusNoContent)
	tn.expect(t, tok, http.MethodPatch, "/Users/"+leaver, patchOp(op("Replace", "active", "False")), http.StatusOK, http.StatusNoContent)
	tn.expect(t, tok, http.MethodDelete, "/Users/"+gone, nil, http.StatusNoContent) // also leaves the team

	var diff string
	eventually(t, time.Minute, "mirror equals the directory", func() string {
		diff = compareMirror(t, tn, tok, m.Dir.Snapshot())
		return diff
	})
	snap := m.Dir.Snapshot()
	if a := userField(t, snap, leaver, "active"); a != false {
		t.Fatalf("disabled user in the mirror: active %v, want false", a)
	}
	if _, ok := snap.Users[gone]; ok {
		t.Fatal("deleted user still in the mirror")
	}
	if got := snap.Groups[team].Members; !slices.Equal(got, sortedIDs(boss, leaver)) {
		t.Fatalf("team members in the mirror: %v, want the boss and the disabled leaver (the deleted user left)", got)
	}
	if received, refused := m.Counts(); refused != 0 || received == 0 {
		t.Fatalf("mirror accepted %d requests and refused %d (bad signatures)", received, refused)
	}

	// The operator polls the server's delivery status into the ScimWebhook.
	eventually(t, time.Minute, "ScimWebhook reports everything delivered", func() string {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(wh), cur); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, scimv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return "Ready: " + condString(c)
		}
		if cur.Status.Lag != 0 || cur.Status.AckedSeq != snap.Seq || cur.Status.LastDeliveredAt == nil {
			return fmt.Sprintf("lag %d, ackedSeq %d (mirror at %d)", cur.Status.Lag, cur.Status.AckedSeq, snap.Seq)
		}
		return ""
	})
	t.Logf("mirror: %d users, %d groups, %d events applied", len(snap.Users), len(snap.Groups), snap.Seq)
}

// compareMirror returns "" when the mirror holds exactly the directory's
// users (same SCIM representation, see withoutLocation) and groups with
// the same members; else what differs.
func compareMirror(t *testing.T, tn *tenant, tok string, snap mirror.Snapshot) string {
	t.Helper()
	users := tn.expect(t, tok, http.MethodGet, "/Users?count=1000", nil, 200).body
	var dirIDs []string
	for _, u := range asSlice(users["Resources"]) {
		doc := u.(map[string]any)
		id := doc["id"].(string)
		dirIDs = append(dirIDs, id)
		raw, ok := snap.Users[id]
		if !ok {
			return "user " + id + " missing from the mirror"
		}
		var mirrored map[string]any
		if err := json.Unmarshal(raw, &mirrored); err != nil {
			t.Fatal(err)
		}
		if a, b := withoutLocation(doc), withoutLocation(mirrored); a != b {
			return fmt.Sprintf("user %s differs:\n directory %s\n mirror    %s", id, a, b)
		}
	}
	if len(dirIDs) != len(snap.Users) {
		return fmt.Sprintf("mirror has %d users, directory %d", len(snap.Users), len(dirIDs))
	}
	groups := tn.expect(t, tok, http.MethodGet, "/Groups?count=1000", nil, 200).body
	n := 0
	for _, g := range asSlice(groups["Resources"]) {
		doc := g.(map[string]any)
		id := doc["id"].(string)
		n++
		mg, ok := snap.Groups[id]
		if !ok {
			return "group " + id + " missing from the mirror"
		}
		var members []string
		for _, m := range asSlice(doc["members"]) {
			members = append(members, get(m, "value").(string))
		}
		sort.Strings(members)
		if !slices.Equal(members, mg.Members) && !(len(members) == 0 && len(mg.Members) == 0) {
			return fmt.Sprintf("group %s members: directory %v, mirror %v", id, members, mg.Members)
		}
		var mirrored map[string]any
		_ = json.Unmarshal(mg.Resource, &mirrored)
		if mirrored["displayName"] != doc["displayName"] {
			return fmt.Sprintf("group %s displayName: directory %v, mirror %v", id, doc["displayName"], mirrored["displayName"])
		}
	}
	if n != len(snap.Groups) {
		return fmt.Sprintf("mirror has %d groups, directory %d", len(snap.Groups), n)
	}
	return ""
}

// withoutLocation renders a user for comparison without meta.location
// (it follows the request's host) and without groups (events never carry
// a user's groups: membership travels as member events, compared on the
// groups).
func withoutLocation(doc map[string]any) string {
	c := map[string]any{}
	for k, v := range doc {
		if k != "groups" {
			c[k] = v
		}
	}
	if m, ok := c["meta"].(map[string]any); ok {
		mc := map[string]any{}
		for k, v := range m {
			if k != "location" {
				mc[k] = v
			}
		}
		c["meta"] = mc
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func userField(t *testing.T, snap mirror.Snapshot, id, field string) any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(snap.Users[id], &doc); err != nil {
		t.Fatalf("user %s in the mirror: %v", id, err)
	}
	return doc[field]
}

func listUserID(t *testing.T, tn *tenant, tok, userName string) string {
	t.Helper()
	r := tn.expect(t, tok, http.MethodGet, "/Users?filter="+eqFilter("userName", userName), nil, 200)
	if listLen(t, r) != 1 {
		t.Fatalf("user %s: %s", userName, r.raw)
	}
	return get(r.body, "Resources", 0, "id").(string)
}

func sortedIDs(ids ...string) []string {
	sort.Strings(ids)
	return ids
}
