package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// postgresSchema is the PostgreSQL schema of a storage.postgres tenant:
// spec.storage.postgres.schema, or scim_<namespace>_<name>_<hash>. The
// hash of namespace/name keeps two tenants apart whose names map to the
// same characters ("a-b"/"c" and "a"/"b-c" both read a_b_c), and the
// readable part is cut so the whole fits PostgreSQL's 63 bytes.
func postgresSchema(t *scimv1alpha1.ScimTenant) string {
	if pg := t.Spec.Postgres(); pg != nil && pg.Schema != "" {
		return pg.Schema
	}
	sum := sha256.Sum256([]byte(t.Namespace + "/" + t.Name))
	suffix := "_" + hex.EncodeToString(sum[:4])
	readable := "scim_" + identifier(t.Namespace) + "_" + identifier(t.Name)
	if max := 63 - len(suffix); len(readable) > max {
		readable = readable[:max]
	}
	return readable + suffix
}

// identifier maps a Kubernetes name (lower-case letters, digits, '-' and
// '.') to the characters of an unquoted PostgreSQL identifier.
func identifier(name string) string {
	return strings.Map(func(r rune) rune {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, strings.ToLower(name))
}

// spreadReplicas spreads the replicas of a postgres tenant across nodes
// when it can (ScheduleAnyway: a one-node cluster still runs them all), so
// a node drain or loss takes at most a share of them. SQLite tenants run
// one pod: nothing to spread.
func spreadReplicas(t *scimv1alpha1.ScimTenant) []corev1.TopologySpreadConstraint {
	if t.Spec.Postgres() == nil {
		return nil
	}
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       corev1.LabelHostname,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels(t)},
	}}
}

// desiredPodDisruptionBudget keeps all but one replica of a postgres
// tenant up through voluntary disruptions (node drains, cluster upgrades);
// nil for one replica (a budget would block every drain) and for SQLite.
func desiredPodDisruptionBudget(t *scimv1alpha1.ScimTenant) *policyv1.PodDisruptionBudget {
	if t.Spec.Postgres() == nil || ptr.Deref(t.Spec.Replicas, 1) < 2 {
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(t, serverName(t)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(t)},
		},
	}
}

// storageStatus is status.storage: the backend, and for PostgreSQL the
// schema, which is where an admin looks for the tenant's tables.
func storageStatus(t *scimv1alpha1.ScimTenant) string {
	if t.Spec.Postgres() != nil {
		return "postgres schema " + postgresSchema(t)
	}
	return "sqlite"
}
