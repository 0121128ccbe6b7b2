package chart

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// memSeries is an in-memory storage.Queryable for the alert tests. It stands
// in for promqltest's TSDB-backed storage, whose tsdb -> config import
// brings the AWS, Azure and Google SDKs into the test build; the promql
// engine evaluating the queries is Prometheus's own.
type memSeries []storage.Series

func (m memSeries) Querier(int64, int64) (storage.Querier, error) { return m, nil }
func (memSeries) Close() error                                    { return nil }
func (memSeries) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}
func (memSeries) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (m memSeries) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range m {
		if slices.IndexFunc(ms, func(mt *labels.Matcher) bool { return !mt.Matches(s.Labels().Get(mt.Name)) }) < 0 {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &seriesSet{series: out, i: -1}
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is a chunks.Sample of a float value.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }

// load reads series in promtool's notation ("metric{a="b"} 0+1x20 20x30"),
// one sample per step from t=0.
func load(t *testing.T, step time.Duration, lines []string) memSeries {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var out memSeries
	for _, line := range lines {
		lset, values, err := p.ParseSeriesDesc(line)
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, floatSample{t: int64(i) * step.Milliseconds(), f: v.Value})
			}
		}
		out = append(out, storage.NewListSeries(lset, samples))
	}
	return out
}

// Each alert's expression, evaluated by Prometheus's own engine on synthetic
// series, fires for the situation its runbook describes and stays silent for
// the look-alikes. `for:` durations are not evaluated here (the engine
// evaluates instant queries, not the rule manager); the thresholds are.
// Series come in 5-minute steps from t=0, so time() at "eval at 90m" is 5400.
func TestAlertsFireWhenTheyShould(t *testing.T) {
	exprs := map[string]string{}
	for _, g := range configRule(t).Spec.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = strings.Join(strings.Fields(r.Expr.String()), " ")
		}
	}
	const srv = `job="scimserver", namespace="default"`
	tests := []struct {
		alert  string
		by     string   // the labels the alert carries
		series []string // loaded at 5m steps
		at     string
		firing []string // label sets, in `by` order, expected to fire
	}{
		{
			alert: "ScimTenantNotSyncing", by: "namespace, tenant",
			series: []string{
				// Entra's requests every 5 minutes until 100m, then none.
				`scim_http_requests_total{` + srv + `, tenant="acme", resource="Users", method="GET", code="200"} 0+1x20 20x30`,
				// Never reached: the pre-created series stays 0.
				`scim_http_requests_total{` + srv + `, tenant="quiet", resource="Users", method="GET", code="200"} 0x50`,
				// Only the operator's status poller and the event feed call it.
				`scim_http_requests_total{` + srv + `, tenant="polled", resource="Users", method="GET", code="200"} 0x50`,
				`scim_http_requests_total{` + srv + `, tenant="polled", resource="webhooks", method="GET", code="200"} 0+1x50`,
				`scim_http_requests_total{` + srv + `, tenant="polled", resource="events", method="GET", code="200"} 0+1x50`,
			},
			at:     "90m",
			firing: []string{`default, quiet`, `default, polled`},
		},
		{
			alert: "ScimTenantNotSyncing", by: "namespace, tenant",
			series: []string{
				`scim_http_requests_total{` + srv + `, tenant="acme", resource="Users", method="GET", code="200"} 0+1x20 20x30`,
				`scim_http_requests_total{` + srv + `, tenant="busy", resource="Groups", method="PATCH", code="204"} 0+1x50`,
			},
			at:     "190m", // 90 minutes after acme's last request
			firing: []string{`default, acme`},
		},
		{
			alert: "ScimClientErrorRatioHigh", by: "namespace, tenant",
			series: []string{
				// 2 of 12 requests per 5 minutes fail: 17%, 12 errors per 30 minutes.
				`scim_http_requests_total{` + srv + `, tenant="broken", resource="Users", method="POST", code="200"} 0+10x20`,
				`scim_http_requests_total{` + srv + `, tenant="broken", resource="Users", method="POST", code="400"} 0+2x20`,
				// 1 of 11 fails (9%) but only 6 errors per 30 minutes: a quiet tenant with one bad object.
				`scim_http_requests_total{` + srv + `, tenant="small", resource="Users", method="GET", code="200"} 0+10x20`,
				`scim_http_requests_total{` + srv + `, tenant="small", resource="Users", method="PATCH", code="404"} 0+1x20`,
				// Many errors, but under 5% of a large sync.
				`scim_http_requests_total{` + srv + `, tenant="large", resource="Users", method="POST", code="201"} 0+1000x20`,
				`scim_http_requests_total{` + srv + `, tenant="large", resource="Users", method="POST", code="409"} 0+20x20`,
			},
			at:     "60m",
			firing: []string{`default, broken`},
		},
		{
			alert: "ScimServerNotReady", by: "namespace, tenant",
			series: []string{
				`scim_server_ready{` + srv + `, tenant="nostore", pod="a"} 0x10`,
				`up{` + srv + `, tenant="nostore", pod="a"} 1x10`,
				// One of two pods is ready: Entra is served.
				`scim_server_ready{` + srv + `, tenant="half", pod="a"} 1x10`,
				`scim_server_ready{` + srv + `, tenant="half", pod="b"} 0x10`,
				`up{` + srv + `, tenant="half", pod="a"} 1x10`,
				`up{` + srv + `, tenant="half", pod="b"} 1x10`,
				// Cannot be scraped at all.
				`up{` + srv + `, tenant="unreachable", pod="a"} 0x10`,
				`scim_server_ready{` + srv + `, tenant="fine", pod="a"} 1x10`,
				`up{` + srv + `, tenant="fine", pod="a"} 1x10`,
			},
			at:     "30m",
			firing: []string{`default, nostore`, `default, unreachable`},
		},
		{
			alert: "ScimWebhookLagGrowing", by: "namespace, tenant, webhook",
			series: []string{
				`scim_webhook_lag_events{` + srv + `, tenant="acme", webhook="stuck"} 1+10x20`,
				// A sync's burst that drains: the lag touches 0.
				`scim_webhook_lag_events{` + srv + `, tenant="acme", webhook="bursty"} 0 500 0 800 0 300 0 900 0 100 0 700 0 200 0`,
				// Behind but not falling further behind.
				`scim_webhook_lag_events{` + srv + `, tenant="acme", webhook="steady"} 50x20`,
			},
			at:     "70m",
			firing: []string{`default, acme, stuck`},
		},
		{
			alert: "ScimTokenExpiringSoon", by: "namespace, name",
			series: []string{
				// At 10m (time() = 600): expires in 3 days, in 30 days.
				fmt.Sprintf(`scim_operator_token_expiry_timestamp_seconds{namespace="default", name="soon"} %dx3`, 600+3*86400),
				fmt.Sprintf(`scim_operator_token_expiry_timestamp_seconds{namespace="default", name="later"} %dx3`, 600+30*86400),
			},
			at:     "10m",
			firing: []string{`default, soon`},
		},
		{
			alert: "ScimTokenRotationSoon", by: "namespace, name",
			series: []string{
				fmt.Sprintf(`scim_operator_token_next_rotation_timestamp_seconds{namespace="default", name="tomorrow"} %dx3`, 600+86400),
				fmt.Sprintf(`scim_operator_token_next_rotation_timestamp_seconds{namespace="default", name="nextweek"} %dx3`, 600+7*86400),
			},
			at:     "10m",
			firing: []string{`default, tomorrow`},
		},
		{
			alert: "PreviousScimTokenStillInUse", by: "namespace, tenant, token",
			series: []string{
				// At 120m (time() = 7200). Entra used the old token 200 s ago; its grace ends in 1 h.
				`scim_auth_token_last_used_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="entra", slot="previous"} 7000x24`,
				`scim_auth_token_not_after_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="entra", slot="previous"} 10800x24`,
				// Switched: the old token was last used 100 minutes ago.
				`scim_auth_token_last_used_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="done", slot="previous"} 1200x24`,
				`scim_auth_token_not_after_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="done", slot="previous"} 10800x24`,
				// Still in use, but the grace window has most of a day left.
				`scim_auth_token_last_used_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="early", slot="previous"} 7000x24`,
				`scim_auth_token_not_after_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="early", slot="previous"} 86400x24`,
				// The current token about to expire is ScimTokenExpiringSoon's business.
				`scim_auth_token_last_used_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="cur", slot="current"} 7000x24`,
				`scim_auth_token_not_after_timestamp_seconds{` + srv + `, tenant="acme", pod="a", token="cur", slot="current"} 10800x24`,
			},
			at:     "120m",
			firing: []string{`default, acme, entra`},
		},
		{
			alert: "ScimOperatorReconcileErrors", by: "controller",
			series: []string{
				`controller_runtime_reconcile_errors_total{controller="scimtenant"} 0+1x10`,
				`controller_runtime_reconcile_errors_total{controller="scimtoken"} 0x10`,
				`controller_runtime_reconcile_errors_total{controller="somebody-else"} 0+1x10`,
			},
			at:     "40m",
			firing: []string{`scimtenant`},
		},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.alert+"@"+tt.at, func(t *testing.T) {
			expr, ok := exprs[tt.alert]
			if !ok {
				t.Fatalf("no alert %s in config/prometheus/prometheus_rule.yaml", tt.alert)
			}
			covered[tt.alert] = true
			at, err := time.ParseDuration(tt.at)
			if err != nil {
				t.Fatal(err)
			}
			engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
			q, err := engine.NewInstantQuery(context.Background(), load(t, 5*time.Minute, tt.series), nil,
				fmt.Sprintf("count by (%s) (%s)", tt.by, expr), time.Unix(0, 0).Add(at))
			if err != nil {
				t.Fatal(err)
			}
			res := q.Exec(context.Background())
			vec, err := res.Vector()
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			names := strings.Split(tt.by, ", ")
			var got []string
			for _, s := range vec {
				var values []string
				for _, n := range names {
					values = append(values, s.Metric.Get(n))
				}
				got = append(got, strings.Join(values, ", "))
			}
			slices.Sort(got)
			want := slices.Clone(tt.firing)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("at %s fires for %q, want %q\n%s", tt.at, got, want, expr)
			}
		})
	}
	for name := range exprs {
		if !covered[name] {
			t.Errorf("alert %s has no case here", name)
		}
	}
}
