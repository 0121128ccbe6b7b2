package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/controllers/deliverystatus"
	"github.com/scim-operator/scim-operator/localruntime"
	"github.com/scim-operator/scim-operator/scimserver/store/pgtest"
)

// TestWebhookFailoverPostgresReplicas (issue #11, "nothing lost on
// failover"): a storage.postgres tenant with replicas: 2 delivers a
// ScimWebhook to the example directory mirror. Exactly one replica holds
// the delivery lease (the deliveries table says which); that process is
// SIGKILLed while an initial sync is still writing through the Service.
// Delivery goes on from the acknowledged cursor (the mirror keeps
// receiving after the kill), the mirror ends equal to the directory
// (nothing lost; redelivered events are allowed and the mirror applies
// each seq once), every delivery's signature verified, and the operator
// reports the ScimWebhook Ready and everything delivered, which each
// replica, polled again and again as the operator does, confirms alike.
func TestWebhookFailoverPostgresReplicas(t *testing.T) {
	t.Parallel()
	const name, tokenName, hookName, dep = "e2e-pgwh", "e2e-pgwh-entra", "e2e-pgwh-mirror", "e2e-pgwh-scim"
	url, schema := pgtest.Schema(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := localruntime.StartMirror(ctx, k8s, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(m.Addr, ":")
	createPostgresTenant(t, name, "pgwh.e2e.example.com", url, schema, 2)
	wh := &scimv1alpha1.ScimWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: hookName},
		Spec: scimv1alpha1.ScimWebhookSpec{
			TenantRef: scimv1alpha1.TenantReference{Name: name},
			URL:       "http://localhost:" + port + "/webhook",
		},
	}
	if err := k8s.Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), wh) })
	createToken(t, tokenName, name)
	tn := readyTenant(t, name, tokenName)
	pods := readyReplicas(t, name, dep, 2)
	tok := tn.token(t)
	acceptedByEveryPod(t, tn, dep, tok)
	retry := &entraRetry{attempts: 8, first: 200 * time.Millisecond}
	tn.retry = retry

	// A first sync thread, then the holder is whoever delivered it.
	syncWorker(t, tn, tok, 0)
	holder := func() string {
		t.Helper()
		var owner string
		eventually(t, 30*time.Second, "a replica holding the delivery lease", func() string {
			owner = leaseOwner(t, url, schema)
			for _, p := range rt.Pods(ns, dep) {
				if p.Name == owner {
					return ""
				}
			}
			return fmt.Sprintf("lease owner %q is no pod of %s", owner, dep)
		})
		return owner
	}
	first := holder()
	eventually(t, 30*time.Second, "first deliveries", func() string {
		if n, _ := m.Counts(); n == 0 {
			return "the mirror received nothing"
		}
		return ""
	})
	// What the operator's polls would read from here on, through the
	// kill: the Service sends each to either replica.
	hook := client.ObjectKeyFromObject(wh)
	opTok := operatorToken(t, name)
	reports := watchDeliveryReports(ctx, t, dep, opTok)
	var victim localruntime.Pod
	for _, p := range pods {
		if p.Name == first {
			victim = p
		}
	}

	// The other threads write while the holder is killed under them.
	calls, _, _ := retry.report()
	killed := make(chan struct{})
	var receivedAtKill int
	var seqAtKill int64
	retry.whenCall(calls+10, func() {
		receivedAtKill, _ = m.Counts()
		seqAtKill = m.Dir.Snapshot().Seq
		_ = syscall.Kill(victim.PID, syscall.SIGKILL)
		close(killed)
	})
	t.Run("provisioning", func(t *testing.T) {
		for w := 1; w < syncWorkers; w++ {
			t.Run(fmt.Sprintf("sync-%d", w), func(t *testing.T) {
				t.Parallel()
				syncWorker(t, tn, tok, w)
			})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	select {
	case <-killed:
	default:
		t.Fatalf("the kill of %s never ran", victim.Name)
	}

	var expected directory
	for w := range syncWorkers {
		expected.add(syncExpected(tn, w))
	}
	expected.check(t, tn, tok)
	eventually(t, 40*time.Second, "mirror equals the directory after the failover", func() string {
		return compareMirror(t, tn, tok, m.Dir.Snapshot())
	})
	snap := m.Dir.Snapshot()
	received, refused := m.Counts()
	if refused != 0 {
		t.Errorf("the mirror refused %d of %d deliveries: bad signatures", refused, received+refused)
	}
	if received <= receivedAtKill || snap.Seq <= seqAtKill {
		t.Fatalf("no delivery after the kill: %d requests and seq %d at the kill, %d and %d at the end",
			receivedAtKill, seqAtKill, received, snap.Seq)
	}
	after := holder()
	t.Logf("lease held by %s, killed at seq %d (%d requests); then held by %s; mirror at seq %d after %d requests",
		first, seqAtKill, receivedAtKill, after, snap.Seq, received)

	// Through the failover every answer said delivering or idle: no
	// standby, nothing the ScimWebhook's status could flap to.
	seen, failed := reports()
	for _, o := range seen {
		if o.state != scimv1alpha1.DeliveryStateDelivering && o.state != scimv1alpha1.DeliveryStateIdle {
			t.Errorf("a replica reported state %q at acked %d during the failover (all: %v)", o.state, o.acked, seen)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no delivery report read during the failover")
	}
	t.Logf("delivery reports through the Service during the failover: %v; %d polls failed (the killed process)", seen, failed)

	// The operator's view: everything delivered.
	eventually(t, 30*time.Second, "ScimWebhook reports everything delivered", func() string {
		cur := &scimv1alpha1.ScimWebhook{}
		if err := k8s.Get(ctx, hook, cur); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, scimv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return "Ready: " + condString(c)
		}
		if st := cur.Status.State; !slices.Contains([]string{scimv1alpha1.DeliveryStateDelivering, scimv1alpha1.DeliveryStateIdle}, st) {
			return "state " + st
		}
		if cur.Status.Lag != 0 || cur.Status.AckedSeq != snap.Seq {
			return fmt.Sprintf("lag %d, ackedSeq %d (mirror at %d)", cur.Status.Lag, cur.Status.AckedSeq, snap.Seq)
		}
		return ""
	})
	// What the operator's next polls read: the Service sends each to
	// either replica, so each replica, asked again and again with the
	// operator's token, must give the same answer (the holder's own, the
	// other the holder's stored status), or the ScimWebhook would flap.
	for round := range 3 {
		for _, p := range rt.Pods(ns, dep) {
			rep, err := deliverystatus.Fetch(ctx, httpClient, "http://"+p.Addr, opTok)
			if err != nil {
				t.Fatalf("poll %d of %s: %v", round+1, p.Name, err)
			}
			if len(rep.Webhooks) != 1 {
				t.Fatalf("poll %d of %s: %d webhooks: %+v", round+1, p.Name, len(rep.Webhooks), rep)
			}
			w := rep.Webhooks[0]
			if w.State != scimv1alpha1.DeliveryStateIdle || w.Acked != snap.Seq || w.Lag != 0 || w.LastDeliveredAt == nil || w.LastError != nil {
				t.Errorf("poll %d of %s: state %q, acked %d, lag %d, lastDeliveredAt %v, lastError %+v; want idle at %d",
					round+1, p.Name, w.State, w.Acked, w.Lag, w.LastDeliveredAt, w.LastError, snap.Seq)
			}
		}
	}
}

type reportObservation struct {
	state string
	acked int64
}

// watchDeliveryReports reads GET /v1/webhooks through the tenant's
// Service, as the operator's poller does, every 100 ms until the returned
// function is called, which returns each (state, acked) that differed from
// the one before and how many reads failed.
func watchDeliveryReports(ctx context.Context, t *testing.T, service, token string) func() ([]reportObservation, int) {
	var seen []reportObservation
	failed := 0
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			base, err := rt.ServiceURL(ctx, ns, service, 0)
			var rep *deliverystatus.Report
			if err == nil {
				rep, err = deliverystatus.Fetch(ctx, httpClient, base, token)
			}
			switch {
			case err != nil || len(rep.Webhooks) != 1:
				failed++
			default:
				o := reportObservation{rep.Webhooks[0].State, rep.Webhooks[0].Acked}
				if len(seen) == 0 || seen[len(seen)-1] != o {
					seen = append(seen, o)
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	finish := func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(finish)
	return func() ([]reportObservation, int) {
		finish()
		return seen, failed
	}
}

// operatorToken is the token the operator polls a tenant's servers with
// (status scope), from the Secret it keeps for it.
func operatorToken(t *testing.T, tenantName string) string {
	t.Helper()
	var list corev1.SecretList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{
		controllers.LabelTenant: tenantName, controllers.LabelComponent: "operator-token",
	}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Data["token"]) == 0 {
		t.Fatalf("%d operator-token Secrets for %s", len(list.Items), tenantName)
	}
	return string(list.Items[0].Data["token"])
}

// leaseOwner reads the delivery lease's owner from the tenant's schema
// ("" when no replica holds it).
func leaseOwner(t *testing.T, url, schema string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner *string
	err = conn.QueryRow(ctx, `SELECT owner FROM `+pgx.Identifier{schema, "deliveries"}.Sanitize()+` WHERE lease_until > $1`, time.Now().UnixNano()).Scan(&owner)
	if err != nil && err != pgx.ErrNoRows {
		t.Fatal(err)
	}
	return ptr.Deref(owner, "")
}
