package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// Tenant gauges from the servers' status reports: one series per tenant
// however many server replicas, so "tenant not syncing" alerts need no
// per-pod aggregation.
var (
	tenantLastRequest = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_tenant_last_request_timestamp_seconds",
		Help: "When a ScimToken last authenticated a SCIM request to the tenant, as a Unix time (ScimTenant status.lastRequestTime).",
	}, []string{"namespace", "name"})
	tenantUsers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_tenant_users",
		Help: "Users held by the tenant, by state (active, inactive), as last reported by its server.",
	}, []string{"namespace", "name", "state"})
	tenantGroups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_tenant_groups",
		Help: "Groups held by the tenant, as last reported by its server.",
	}, []string{"namespace", "name"})
	tenantSyncing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scim_operator_tenant_syncing",
		Help: "1 while the tenant's Syncing condition is True, 0 while False; absent while Unknown.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(tenantLastRequest, tenantUsers, tenantGroups, tenantSyncing)
}

func recordTenantReportMetrics(t *scimv1alpha1.ScimTenant) {
	labels := prometheus.Labels{"namespace": t.Namespace, "name": t.Name}
	st := t.Status
	if st.LastRequestTime != nil {
		tenantLastRequest.With(labels).Set(float64(st.LastRequestTime.Unix()))
	}
	if u := st.Users; u != nil {
		tenantUsers.WithLabelValues(t.Namespace, t.Name, "active").Set(float64(u.Active))
		tenantUsers.WithLabelValues(t.Namespace, t.Name, "inactive").Set(float64(u.Inactive))
	}
	if st.Groups != nil {
		tenantGroups.With(labels).Set(float64(*st.Groups))
	}
	switch c := meta.FindStatusCondition(st.Conditions, scimv1alpha1.ConditionSyncing); {
	case c == nil || c.Status == metav1.ConditionUnknown:
		tenantSyncing.Delete(labels)
	case c.Status == metav1.ConditionTrue:
		tenantSyncing.With(labels).Set(1)
	default:
		tenantSyncing.With(labels).Set(0)
	}
}

func forgetTenantReportMetrics(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	tenantLastRequest.Delete(labels)
	tenantGroups.Delete(labels)
	tenantSyncing.Delete(labels)
	tenantUsers.DeletePartialMatch(labels)
}
