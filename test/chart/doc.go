// Package chart holds the tests that keep the Helm chart (charts/scim-operator)
// and config/ (kustomize) from drifting apart, render the chart with Helm's
// own engine and apply the result to a real API server, and validate the
// alerts (config/prometheus) and the Grafana dashboard (config/grafana)
// against the metrics the code exports.
package chart
