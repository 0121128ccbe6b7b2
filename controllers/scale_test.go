package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// TestScale200Tenants creates 200 tenants with 2 tokens each and waits until
// every tenant has its Deployment and a token file holding both tokens'
// hashes; then it rotates tokens by annotation and measures how long each
// rotation takes to reach the tenant's token file. The durations are
// reported (t.Log, and docs/benchmarks.md), not asserted: a timed assertion
// on a shared 2-core machine measures the machine, not the operator.
func TestScale200Tenants(t *testing.T) {
	const tenants, tokensPer = 200, 2
	ns := namespace(t)
	defer startManager(t, ns)()
	ctx := context.Background()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, tenants)
	sem := make(chan struct{}, 16)
	for i := range tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			name := fmt.Sprintf("t%03d", i)
			if err := k8s.Create(ctx, newTenant(ns, name)); err != nil {
				errs <- err
				return
			}
			for j := range tokensPer {
				if err := k8s.Create(ctx, newToken(ns, fmt.Sprintf("%s-k%d", name, j), name)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	created := time.Since(start)

	// Desired state: every Deployment exists, every token file holds 2 hashes
	// matching the tokens' status.
	eventually(t, 5*time.Minute, func() error {
		var deps appsv1.DeploymentList
		if err := k8s.List(ctx, &deps, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(deps.Items) != tenants {
			return fmt.Errorf("%d/%d Deployments", len(deps.Items), tenants)
		}
		files, err := tokenFiles(ctx, ns)
		if err != nil {
			return err
		}
		var toks scimv1alpha1.ScimTokenList
		if err := k8s.List(ctx, &toks, client.InNamespace(ns)); err != nil {
			return err
		}
		want := map[string][]string{}
		for _, tok := range toks.Items {
			if tok.Status.Hash == "" {
				return fmt.Errorf("token %s not issued yet", tok.Name)
			}
			want[tok.Spec.TenantRef.Name] = append(want[tok.Spec.TenantRef.Name], tok.Status.Hash)
		}
		for i := range tenants {
			name := fmt.Sprintf("t%03d", i)
			w := want[name]
			slices.Sort(w)
			if got := files[name]; !slices.Equal(got, w) || len(w) != tokensPer {
				return fmt.Errorf("tenant %s: token file %d hashes, want %d", name, len(got), len(w))
			}
		}
		return nil
	})
	// Steady state: every tenant's status reports both tokens.
	eventually(t, 5*time.Minute, func() error {
		var list scimv1alpha1.ScimTenantList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, tn := range list.Items {
			if tn.Status.ActiveTokens != tokensPer || tn.Status.ObservedGeneration != tn.Generation {
				return fmt.Errorf("tenant %s status: activeTokens %d", tn.Name, tn.Status.ActiveTokens)
			}
		}
		return nil
	})
	converged := time.Since(start)
	t.Logf("scale: %d tenants × %d tokens created in %v, desired state after %v", tenants, tokensPer, created.Round(time.Millisecond), converged.Round(time.Millisecond))

	// Rotation latency: annotation written → new hash in the tenant's token file.
	var latencies []time.Duration
	for i := 0; i < tenants; i += 10 {
		tenant := fmt.Sprintf("t%03d", i)
		tokName := tenant + "-k0"
		before := &scimv1alpha1.ScimToken{}
		if err := get(t, before, ns, tokName); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		patchToken(t, ns, tokName, fmt.Sprintf(`{"metadata":{"annotations":{%q:"scale-%d"}}}`, scimv1alpha1.RotateAnnotation, i))
		eventually(t, 30*time.Second, func() error {
			tok := &scimv1alpha1.ScimToken{}
			if err := get(t, tok, ns, tokName); err != nil {
				return err
			}
			if tok.Status.Revision != before.Status.Revision+1 {
				return fmt.Errorf("not rotated yet")
			}
			f, err := tokenFileOf(t, ns, tenant)
			if err != nil {
				return err
			}
			for _, e := range f.Tokens {
				if e.SHA256 == tok.Status.Hash {
					return nil
				}
			}
			return fmt.Errorf("new hash not in token file yet")
		})
		latencies = append(latencies, time.Since(began))
		t.Logf("scale: rotation %d: %v", i, time.Since(began).Round(time.Millisecond))
	}
	slices.Sort(latencies)
	t.Logf("scale: rotation → token file latency over %d rotations: min %v, median %v, max %v",
		len(latencies), latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
}

// tokenFiles reads every tenant's token file in a namespace: sorted hashes by tenant.
func tokenFiles(ctx context.Context, ns string) (map[string][]string, error) {
	var secrets corev1.SecretList
	if err := k8s.List(ctx, &secrets, client.InNamespace(ns), client.MatchingLabels{LabelName: appName}); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, s := range secrets.Items {
		raw, ok := s.Data[auth.TokenFileName]
		if !ok {
			continue // the operator's status token, a webhook file
		}
		f, err := auth.ParseTokenFile(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		var hashes []string
		for _, e := range f.Tokens {
			if e.Name != operatorTokenName {
				hashes = append(hashes, e.SHA256)
			}
		}
		slices.Sort(hashes)
		out[s.Labels[LabelTenant]] = hashes
	}
	return out, nil
}
