package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/examples/directory-mirror/mirror"
	"github.com/scim-operator/scim-operator/localruntime"
	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// TestEntraProvisioningPostgresReplicas: a storage.postgres tenant with
// replicas: 2 runs two server processes behind its Service and Ingress,
// which spread Entra's requests across both. The whole Entra cycle (token
// rotation included) runs while an initial sync provisions more users and
// groups in parallel, as Entra's service does, and one replica's process is
// SIGKILLed in the middle of it. The client retries as Entra does; nothing
// else shows: the killed pod is restarted, the Deployment reports two ready
// replicas again, the directory holds exactly what was provisioned (no
// duplicate, no lost member), and the change feed, read through the
// Service, is gap-free, has an event for every acknowledged write and
// replays into exactly the directory.
func TestEntraProvisioningPostgresReplicas(t *testing.T) {
	t.Parallel()
	const name, tokenName, syncToken, dep = "e2e-pg2", "e2e-pg2-entra", "e2e-pg2-sync", "e2e-pg2-scim"
	url, schema := pgtest.Schema(t)
	ctx := context.Background()
	createPostgresTenant(t, name, "pg2.e2e.example.com", url, schema, 2)
	createToken(t, tokenName, name, func(tok *scimv1alpha1.ScimToken) {
		tok.Spec.Rotation = &scimv1alpha1.RotationSpec{GracePeriod: &metav1.Duration{Duration: time.Hour}}
	})
	// The parallel sync has a token of its own: the cycle rotates the
	// Entra token and ends the old one's grace window under its feet.
	createToken(t, syncToken, name)
	tn := readyTenant(t, name, tokenName)
	pods := readyReplicas(t, name, dep, 2)
	syncer := &tenant{name: tn.name, host: tn.host, base: tn.base, secret: syncToken}
	for _, tok := range []string{tn.token(t), eventuallyToken(t, syncer)} {
		acceptedByEveryPod(t, tn, dep, tok)
	}

	// The Ingress spreads requests across both pods, round robin.
	served := map[string]int{}
	for i := range 6 {
		id := fmt.Sprintf("e2e-spread-%s-%d", uuid.NewString()[:8], i)
		if s := tn.statusWithRequestID(t, tn.token(t), id); s != http.StatusOK {
			t.Fatalf("Test Connection: %d", s)
		}
		for _, p := range pods {
			if logHas(t, p.LogFile, id) {
				served[p.Name]++
			}
		}
	}
	for _, p := range pods {
		if served[p.Name] == 0 {
			t.Fatalf("the Ingress sent none of 6 requests to %s: %v", p.Name, served)
		}
	}

	// Entra's retries; the kill lands in the middle of the cycle, while
	// requests of both the cycle and the sync are in flight.
	retry := &entraRetry{attempts: 8, first: 200 * time.Millisecond}
	tn.retry, syncer.retry = retry, retry
	victim := pods[1]
	killed := make(chan struct{})
	retry.whenCall(30, func() {
		_ = syscall.Kill(victim.PID, syscall.SIGKILL)
		close(killed)
	})
	var expected directory
	t.Run("provisioning", func(t *testing.T) {
		t.Run("cycle", func(t *testing.T) {
			t.Parallel()
			entraCycle(t, tn, tokenName, true)
		})
		for w := range syncWorkers {
			t.Run(fmt.Sprintf("sync-%d", w), func(t *testing.T) {
				t.Parallel()
				syncWorker(t, syncer, syncer.token(t), w)
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	select {
	case <-killed:
	default:
		calls, _, _ := retry.report()
		t.Fatalf("the provisioning made %d calls: the kill at call 30 never ran", calls)
	}
	calls, retried, settled := retry.report()
	t.Logf("%d calls; %d attempts retried, %d unknown outcomes settled by a match: %v %v", calls, len(retried), len(settled), retried, settled)

	// The killed pod was restarted (same pod, a new process), as the
	// kubelet does, and the Deployment is whole again.
	eventually(t, time.Minute, "pod "+victim.Name+" restarted", func() string {
		for _, p := range rt.Pods(ns, dep) {
			if p.Name == victim.Name && (p.PID == 0 || p.PID == victim.PID || p.Restarts != victim.Restarts+1 || !p.Ready) {
				return fmt.Sprintf("%+v", p)
			}
		}
		return ""
	})
	readyReplicas(t, name, dep, 2)

	// The directory: the cycle leaves its two managers (the user and the
	// group it made are deleted), the sync its users and groups.
	tok := tn.token(t)
	for w := range syncWorkers {
		expected.add(syncExpected(tn, w))
	}
	expected.users = append(expected.users, "boss."+tn.name+"@contoso.com", "boss2."+tn.name+"@contoso.com")
	byName := expected.check(t, tn, tok)

	// The change feed, read through the Service: gap-free and every
	// acknowledged write in it.
	evs := readFeed(t, tok, dep)
	dir := mirror.NewDirectory()
	count := map[string]map[string]int{} // resource id -> event type -> n
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: the feed has a gap", i, e.Seq)
		}
		if count[e.ResourceID] == nil {
			count[e.ResourceID] = map[string]int{}
		}
		count[e.ResourceID][e.Type]++
		dir.Apply(e)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Fatalf("event id %s twice", e.ID)
		}
		ids[e.ID] = true
	}
	patches := map[string]int{}
	for _, w := range retry.writes() {
		c := count[w.id]
		switch {
		case w.method == http.MethodPost && w.kind == "Users" && c[eventlog.UserCreated] != 1,
			w.method == http.MethodPost && w.kind == "Groups" && c[eventlog.GroupCreated] != 1,
			w.method == http.MethodDelete && w.kind == "Users" && c[eventlog.UserDeleted] != 1,
			w.method == http.MethodDelete && w.kind == "Groups" && c[eventlog.GroupDeleted] != 1,
			w.method == http.MethodPatch && w.kind == "Groups" && c[eventlog.GroupUpdated]+c[eventlog.GroupMemberAdded]+c[eventlog.GroupMemberRemove] == 0:
			t.Errorf("acknowledged %s %s/%s: events %v", w.method, w.kind, w.id, c)
		case w.method == http.MethodPatch && w.kind == "Users":
			patches[w.id]++
		}
	}
	// Every PATCH of a user in this run changes it: one event each
	// (updated, deactivated or reactivated), however often it was re-sent.
	for id, n := range patches {
		c := count[id]
		if got := c[eventlog.UserUpdated] + c[eventlog.UserDeactivated] + c[eventlog.UserReactivated]; got != n {
			t.Errorf("user %s: %d acknowledged PATCHes, %d update events", id, n, got)
		}
	}
	if diff := compareMirror(t, tn, tok, dir.Snapshot()); diff != "" {
		t.Fatalf("the feed replayed is not the directory: %s", diff)
	}
	t.Logf("directory: %d users, %d groups; feed: %d events, gap-free, one per acknowledged write (%d writes)",
		len(byName), len(expected.groups), len(evs), len(retry.writes()))

	// Scaling: the runtime follows spec.replicas up and down, and the
	// tenant keeps serving through the remaining pods.
	for _, n := range []int32{3, 1} {
		cur := &scimv1alpha1.ScimTenant{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cur); err != nil {
			t.Fatal(err)
		}
		before := cur.DeepCopy()
		cur.Spec.Replicas = ptr.To(n)
		if err := k8s.Patch(ctx, cur, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
		readyReplicas(t, name, dep, n)
		if s := tn.statusWith(t, tok); s != http.StatusOK {
			t.Fatalf("Test Connection with %d replicas: %d", n, s)
		}
	}
}

// createPostgresTenant creates a storage.postgres tenant with replicas
// server pods and the Secret <name>-app holding its database URL.
func createPostgresTenant(t *testing.T, name, host, url, schema string, replicas int32) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-app"},
		StringData: map[string]string{"uri": url},
	}
	tenantObj := &scimv1alpha1.ScimTenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: scimv1alpha1.ScimTenantSpec{
			Replicas:      ptr.To(replicas),
			ResourceTypes: []scimv1alpha1.ResourceType{"User", "Group"},
			Ingress:       &scimv1alpha1.IngressSpec{Host: host},
			Storage: &scimv1alpha1.StorageSpec{Postgres: &scimv1alpha1.PostgresStorage{
				URLSecretRef: scimv1alpha1.SecretKeyRef{Name: name + "-app", Key: "uri"}, Schema: schema,
			}},
		},
	}
	for _, obj := range []client.Object{secret, tenantObj} {
		if err := k8s.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
}

// readyReplicas waits until the Deployment reports n ready and available
// replicas, the local runtime runs n ready pods, and the tenant's status
// says so; it returns the pods.
func readyReplicas(t *testing.T, tenantName, dep string, n int32) []localruntime.Pod {
	t.Helper()
	var pods []localruntime.Pod
	eventually(t, time.Minute, fmt.Sprintf("%d ready replicas of %s", n, dep), func() string {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: dep}, d); err != nil {
			return err.Error()
		}
		if st := d.Status; st.Replicas != n || st.ReadyReplicas != n || st.AvailableReplicas != n {
			return fmt.Sprintf("Deployment status: %d replicas, %d ready, %d available", st.Replicas, st.ReadyReplicas, st.AvailableReplicas)
		}
		pods = rt.Pods(ns, dep)
		ready := 0
		for _, p := range pods {
			if p.Ready && p.PID != 0 {
				ready++
			}
		}
		if len(pods) != int(n) || ready != int(n) {
			return fmt.Sprintf("local pods: %+v", pods)
		}
		st := &scimv1alpha1.ScimTenant{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tenantName}, st); err != nil {
			return err.Error()
		}
		if st.Status.ReadyReplicas != n {
			return fmt.Sprintf("tenant status.readyReplicas %d", st.Status.ReadyReplicas)
		}
		return ""
	})
	return pods
}

// eventuallyToken waits for a ScimToken's token in its Secret.
func eventuallyToken(t *testing.T, tn *tenant) string {
	t.Helper()
	var tok string
	eventually(t, time.Minute, "token in Secret "+tn.secret, func() string {
		if tok = tn.token(t); tok == "" {
			return "none yet"
		}
		return ""
	})
	return tok
}

// acceptedByEveryPod waits until each pod of the Deployment, called
// directly, accepts the token: each reads its own copy of the token file.
func acceptedByEveryPod(t *testing.T, tn *tenant, dep, token string) {
	t.Helper()
	for _, p := range rt.Pods(ns, dep) {
		eventually(t, time.Minute, "token accepted by "+p.Name, func() string {
			req, _ := http.NewRequest(http.MethodGet, "http://"+p.Addr+tn.base+"/Users?filter="+eqFilter("userName", uuid.NewString()), nil)
			req.Host = tn.host
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := httpClient.Do(req)
			if err != nil {
				return err.Error()
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return resp.Status
			}
			return ""
		})
	}
}

// statusWithRequestID is statusWith with an X-Request-Id, which the server
// logs: the test finds which pod served it.
func (tn *tenant) statusWithRequestID(t *testing.T, token, id string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+rt.IngressAddr()+tn.base+"/Users?filter="+eqFilter("userName", uuid.NewString()), nil)
	req.Host = tn.host
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-Id", id)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func logHas(t *testing.T, file, s string) bool {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(raw), s)
}

// syncWorker is one of Entra's parallel initial-sync threads: match then
// create syncUsers users, match then create a group, add the users in one
// batch, then update each user's title.
func syncWorker(t *testing.T, tn *tenant, tok string, w int) {
	want := syncExpected(tn, w)
	var ids []any
	for _, upn := range want.users {
		if n := listLen(t, tn.expect(t, tok, http.MethodGet, "/Users?filter="+eqFilter("userName", upn), nil, 200)); n != 0 {
			t.Fatalf("%s exists before the sync", upn)
		}
		u := tn.expect(t, tok, http.MethodPost, "/Users", entraUser(upn, strings.Split(upn, "@")[0], true), 201).body
		ids = append(ids, map[string]any{"value": u["id"]})
	}
	gname := want.groups[0].name
	if n := listLen(t, tn.expect(t, tok, http.MethodGet, "/Groups?excludedAttributes=members&filter="+eqFilter("displayName", strings.ReplaceAll(gname, " ", "+")), nil, 200)); n != 0 {
		t.Fatalf("group %s exists before the sync", gname)
	}
	g := tn.expect(t, tok, http.MethodPost, "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"externalId":  uuid.NewString(),
		"displayName": gname,
	}, 201).body
	tn.expect(t, tok, http.MethodPatch, "/Groups/"+g["id"].(string), patchOp(op("Add", "members", ids)), http.StatusOK, http.StatusNoContent)
	for _, m := range ids {
		tn.expect(t, tok, http.MethodPatch, "/Users/"+get(m, "value").(string), patchOp(op("Replace", "title", "Synced")), http.StatusOK, http.StatusNoContent)
	}
}

// directory is what a tenant should hold: userNames, and groups with their
// members' userNames.
type directory struct {
	users  []string
	groups []expectedGroup
}

type expectedGroup struct {
	name    string
	members []string
}

func (d *directory) add(o directory) {
	d.users = append(d.users, o.users...)
	d.groups = append(d.groups, o.groups...)
}

// syncWorkers and syncUsers size the parallel initial sync: enough
// concurrent requests that the kill usually catches some in flight.
const syncWorkers, syncUsers = 4, 8

// syncExpected is what syncWorker w provisions.
func syncExpected(tn *tenant, w int) directory {
	var users []string
	for i := range syncUsers {
		users = append(users, fmt.Sprintf("sync%d-%d.%s@contoso.com", w, i, tn.name))
	}
	return directory{users: users, groups: []expectedGroup{{name: fmt.Sprintf("Sync %d %s", w, tn.name), members: users}}}
}

// check fails unless the tenant holds exactly d: each userName once and
// nothing else, each group once with exactly its members. It returns the
// users' ids by userName.
func (d directory) check(t *testing.T, tn *tenant, tok string) map[string]string {
	t.Helper()
	users := tn.expect(t, tok, http.MethodGet, "/Users?count=1000", nil, 200)
	byName := map[string]string{}
	for _, u := range asSlice(users.body["Resources"]) {
		name, id := get(u, "userName").(string), get(u, "id").(string)
		if _, dup := byName[strings.ToLower(name)]; dup {
			t.Fatalf("userName %s twice", name)
		}
		byName[strings.ToLower(name)] = id
	}
	want := slices.Sorted(slices.Values(d.users))
	if got := slices.Sorted(func(yield func(string) bool) {
		for n := range byName {
			if !yield(n) {
				return
			}
		}
	}); !slices.Equal(got, want) || listLen(t, users) != len(want) {
		t.Fatalf("users: %v (totalResults %d), want exactly %v", got, listLen(t, users), want)
	}
	groups := tn.expect(t, tok, http.MethodGet, "/Groups?count=1000", nil, 200)
	if n := listLen(t, groups); n != len(d.groups) {
		t.Fatalf("%d groups, want %d: %s", n, len(d.groups), groups.raw)
	}
	for _, g := range d.groups {
		var found []any
		for _, r := range asSlice(groups.body["Resources"]) {
			if get(r, "displayName") == g.name {
				found = append(found, r)
			}
		}
		if len(found) != 1 {
			t.Fatalf("group %q found %d times", g.name, len(found))
		}
		var got, want []string
		for _, m := range asSlice(get(found[0], "members")) {
			got = append(got, get(m, "value").(string))
		}
		for _, upn := range g.members {
			want = append(want, byName[upn])
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("group %q members %v, want %v", g.name, got, want)
		}
	}
	return byName
}

// readFeed reads the whole change feed through the tenant's Service, as an
// in-cluster application does (the feed is not behind the Ingress).
func readFeed(t *testing.T, tok, service string) []eventlog.Event {
	t.Helper()
	var evs []eventlog.Event
	for after := int64(0); ; {
		base, err := rt.ServiceURL(context.Background(), ns, service, 0)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/events?after=%d&limit=1000", base, after), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/events: %d %v %s", resp.StatusCode, err, raw)
		}
		var page struct {
			Events []eventlog.Event `json:"events"`
			Next   int64            `json:"next"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			return evs
		}
		evs = append(evs, page.Events...)
		after = page.Next
	}
}
