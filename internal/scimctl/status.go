package scimctl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// tenantReport is what status shows of one tenant; -o json|yaml prints it.
type tenantReport struct {
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	URL           string `json:"url,omitempty"`
	Ready         string `json:"ready"`
	Reason        string `json:"reason,omitempty"`
	Message       string `json:"message,omitempty"`
	ReadyReplicas int32  `json:"readyReplicas"`
	ActiveTokens  int32  `json:"activeTokens"`
	// Provisioning counts and times, as the tenant's server last reported
	// them to the operator; absent until the first report.
	Users           *int64             `json:"users,omitempty"`
	ActiveUsers     *int64             `json:"activeUsers,omitempty"`
	InactiveUsers   *int64             `json:"inactiveUsers,omitempty"`
	Groups          *int64             `json:"groups,omitempty"`
	LastSync        *time.Time         `json:"lastSync,omitempty"`
	LastWrite       *time.Time         `json:"lastWrite,omitempty"`
	LastClientError *clientErrorReport `json:"lastClientError,omitempty"`
	StatusReported  *time.Time         `json:"statusReported,omitempty"`
	Storage         string             `json:"storage,omitempty"`
	Conditions      []metav1.Condition `json:"conditions,omitempty"`
	Tokens          []tokenReport      `json:"tokens"`
	Webhooks        []webhookReport    `json:"webhooks,omitempty"`
}

type clientErrorReport struct {
	Status   int32     `json:"status"`
	ScimType string    `json:"scimType,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Time     time.Time `json:"time"`
}

type tokenReport struct {
	Name                string     `json:"name"`
	Secret              string     `json:"secret"`
	Scopes              []string   `json:"scopes,omitempty"`
	Ready               string     `json:"ready"`
	Reason              string     `json:"reason,omitempty"`
	Revoked             bool       `json:"revoked,omitempty"`
	Fingerprint         string     `json:"fingerprint,omitempty"`
	Revision            int64      `json:"revision"`
	IssuedAt            *time.Time `json:"issuedAt,omitempty"`
	NextRotationAt      *time.Time `json:"nextRotationAt,omitempty"`
	ExpiresAt           *time.Time `json:"expiresAt,omitempty"`
	LastUsed            *time.Time `json:"lastUsed,omitempty"`
	PreviousFingerprint string     `json:"previousFingerprint,omitempty"`
	PreviousValidUntil  *time.Time `json:"previousValidUntil,omitempty"`
	PreviousLastUsed    *time.Time `json:"previousLastUsed,omitempty"`
	// Switched is "yes" once the client uses the current token after a
	// rotation, "no" while it still sends the previous one.
	Switched string `json:"switched,omitempty"`
}

type webhookReport struct {
	Name   string `json:"name"`
	URL    string `json:"url,omitempty"`
	Ready  string `json:"ready"`
	Reason string `json:"reason,omitempty"`
	// Lag is how many events wait for delivery, as the operator last read
	// it from the tenant server.
	Lag           string     `json:"lag,omitempty"`
	State         string     `json:"state,omitempty"`
	LastDelivered *time.Time `json:"lastDelivered,omitempty"`
}

type statusOptions struct {
	Options
	k             *kube
	output        string
	allNamespaces bool
}

func newStatusCommand(o Options, k *kube) *cobra.Command {
	so := &statusOptions{Options: o, k: k}
	cmd := &cobra.Command{
		Use:   "status [tenant]",
		Short: "Show tenants: URL, readiness, counts, last sync, tokens and webhooks",
		Long: `Without a tenant, one line per ScimTenant of the namespace (-A: every namespace).
With a tenant, its details: Tenant URL, readiness and why, users (active and
inactive) and groups, last sync and last write, the last client error (4xx)
and the Syncing, AttributesDropped and InsecureTenantURL conditions, as the
tenant's server last reported them; its tokens with fingerprints, revision,
next rotation, last use and whether the client switched to the rotated token
(SWITCHED); and its webhooks with their lag.`,
		Example: `  kubectl scim status
  kubectl scim status acme -n default
  kubectl scim status -A -o wide`,
		Args:              maxArgs("tenant"),
		ValidArgsFunction: firstArg(completeNames(k, tenantNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(so.output, true); err != nil {
				return err
			}
			if len(args) == 1 && so.allNamespaces {
				return usagef("a tenant name and -A cannot be combined: name the namespace with -n")
			}
			return so.run(cmd.Context(), args)
		},
	}
	addOutputFlag(cmd, &so.output, true)
	cmd.Flags().BoolVarP(&so.allNamespaces, "all-namespaces", "A", false, "List the tenants of every namespace")
	return cmd
}

func (so *statusOptions) run(ctx context.Context, args []string) error {
	c, err := so.k.connect()
	if err != nil {
		return err
	}
	ns, err := so.k.namespace()
	if err != nil {
		return err
	}
	var tenants []scimv1alpha1.ScimTenant
	if len(args) == 1 {
		t := &scimv1alpha1.ScimTenant{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: args[0]}, t); err != nil {
			return notFoundHint(err, "ScimTenant", ns, args[0])
		}
		tenants = append(tenants, *t)
	} else {
		var list scimv1alpha1.ScimTenantList
		if err := c.List(ctx, &list, so.listOptions(ns)...); err != nil {
			return notFoundHint(err, "ScimTenant", ns, "*")
		}
		tenants = list.Items
	}
	var tokens scimv1alpha1.ScimTokenList
	if err := c.List(ctx, &tokens, so.listOptions(ns)...); err != nil {
		return fmt.Errorf("listing ScimTokens: %w", err)
	}
	// A cluster whose CRDs predate ScimWebhook has none to show.
	var webhooks scimv1alpha1.ScimWebhookList
	if err := c.List(ctx, &webhooks, so.listOptions(ns)...); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("listing ScimWebhooks: %w", err)
	}
	reports := make([]tenantReport, 0, len(tenants))
	for i := range tenants {
		reports = append(reports, buildTenantReport(&tenants[i], tokens.Items, webhooks.Items))
	}
	slices.SortFunc(reports, func(a, b tenantReport) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})

	out := so.Streams.Out
	switch {
	case so.output == outputJSON || so.output == outputYAML:
		if len(args) == 1 {
			return printStructured(out, so.output, reports[0])
		}
		return printStructured(out, so.output, map[string]any{"tenants": reports})
	case len(args) == 1:
		printTenantDetail(out, &reports[0], so.Now(), so.output == outputWide)
		return nil
	case len(reports) == 0:
		where := "namespace " + ns
		if so.allNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(so.Streams.ErrOut, "No ScimTenants in %s.\n", where)
		return nil
	}
	printTenantTable(out, reports, so.allNamespaces, so.output == outputWide, so.Now())
	return nil
}

func (so *statusOptions) listOptions(ns string) []client.ListOption {
	if so.allNamespaces {
		return nil
	}
	return []client.ListOption{client.InNamespace(ns)}
}

func buildTenantReport(t *scimv1alpha1.ScimTenant, tokens []scimv1alpha1.ScimToken, webhooks []scimv1alpha1.ScimWebhook) tenantReport {
	st := &t.Status
	r := tenantReport{
		Namespace: t.Namespace, Name: t.Name, URL: st.TenantURL,
		ReadyReplicas: st.ReadyReplicas, ActiveTokens: st.ActiveTokens, Storage: st.Storage,
		Groups: st.Groups, LastSync: timeOf(st.LastRequestTime), LastWrite: timeOf(st.LastWriteTime),
		StatusReported: timeOf(st.StatusReportedTime),
		Conditions:     st.Conditions, Tokens: []tokenReport{},
	}
	r.Ready, r.Reason, r.Message = readyOf(st.Conditions)
	if u := st.Users; u != nil {
		r.Users, r.ActiveUsers, r.InactiveUsers = &u.Total, &u.Active, &u.Inactive
	}
	if e := st.LastClientError; e != nil {
		r.LastClientError = &clientErrorReport{Status: e.Status, ScimType: e.ScimType, Detail: e.Detail, Time: e.Time.UTC()}
	}
	for i := range tokens {
		tok := &tokens[i]
		if tok.Namespace == t.Namespace && tok.Spec.TenantRef.Name == t.Name {
			r.Tokens = append(r.Tokens, buildTokenReport(tok))
		}
	}
	slices.SortFunc(r.Tokens, func(a, b tokenReport) int { return strings.Compare(a.Name, b.Name) })
	for i := range webhooks {
		w := &webhooks[i]
		if w.Namespace != t.Namespace || w.Spec.TenantRef.Name != t.Name {
			continue
		}
		wr := webhookReport{Name: w.Name, URL: w.Spec.URL, State: w.Status.State, LastDelivered: timeOf(w.Status.LastDeliveredAt)}
		wr.Ready, wr.Reason, _ = readyOf(w.Status.Conditions)
		if w.Status.State != "" { // lag is meaningful once the server reported
			wr.Lag = events(w.Status.Lag)
		}
		r.Webhooks = append(r.Webhooks, wr)
	}
	slices.SortFunc(r.Webhooks, func(a, b webhookReport) int { return strings.Compare(a.Name, b.Name) })
	return r
}

func buildTokenReport(tok *scimv1alpha1.ScimToken) tokenReport {
	st := &tok.Status
	r := tokenReport{
		Name: tok.Name, Secret: tok.SecretName(), Revoked: tok.Spec.Revoked,
		Fingerprint: st.Fingerprint, Revision: st.Revision,
		IssuedAt: timeOf(st.IssuedAt), NextRotationAt: timeOf(st.NextRotationAt),
		ExpiresAt: timeOf(st.ExpiresAt), PreviousFingerprint: st.PreviousFingerprint,
		PreviousValidUntil: timeOf(st.PreviousValidUntil), PreviousLastUsed: timeOf(st.PreviousLastUsedTime),
	}
	for _, s := range tok.Spec.Scopes {
		r.Scopes = append(r.Scopes, string(s))
	}
	r.Ready, r.Reason, _ = readyOf(st.Conditions)
	// lastUsedTime describes the current token only when it was recorded
	// for the current revision; otherwise the client still sends the old one.
	if st.LastUsedTime != nil && st.LastUsedRevision == st.Revision {
		r.LastUsed = timeOf(st.LastUsedTime)
	}
	r.Switched = switched(st)
	return r
}

// switched says whether the client moved to the current token after the
// last rotation: "yes" once the current token was used after the previous
// one last was, "no" while only the previous one is used, "" when there is
// no previous token to switch from or nothing was used yet.
func switched(st *scimv1alpha1.ScimTokenStatus) string {
	if st.Revision < 2 || st.PreviousFingerprint == "" {
		return ""
	}
	cur := st.LastUsedTime != nil && st.LastUsedRevision == st.Revision
	switch {
	case cur && (st.PreviousLastUsedTime == nil || !st.LastUsedTime.Before(st.PreviousLastUsedTime)):
		return "yes"
	case st.PreviousLastUsedTime != nil:
		return "no"
	}
	return ""
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func readyOf(conds []metav1.Condition) (status, reason, message string) {
	c := meta.FindStatusCondition(conds, scimv1alpha1.ConditionReady)
	if c == nil {
		return "Unknown", "NoStatus", "the operator has not reported on it yet: is the operator running?"
	}
	return string(c.Status), c.Reason, c.Message
}

func events(n int64) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// ago is "5m ago", "in 89d", or "-" for no time.
func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	if d := now.Sub(*t); d >= 0 {
		return duration.HumanDuration(d) + " ago"
	}
	return "in " + duration.HumanDuration(t.Sub(now))
}

func intOr(n *int64, none string) string {
	if n == nil {
		return none
	}
	return fmt.Sprint(*n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printTenantTable(w io.Writer, rs []tenantReport, withNS, wide bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	hdr := []string{"NAME", "URL", "READY", "REASON", "TOKENS", "USERS", "GROUPS", "LAST SYNC", "SYNCING"}
	if withNS {
		hdr = append([]string{"NAMESPACE"}, hdr...)
	}
	if wide {
		hdr = append(hdr, "REPLICAS", "MESSAGE")
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range rs {
		row := []string{r.Name, dash(r.URL), r.Ready, r.Reason, fmt.Sprint(r.ActiveTokens),
			intOr(r.Users, "-"), intOr(r.Groups, "-"), ago(r.LastSync, now), conditionStatus(r.Conditions, scimv1alpha1.ConditionSyncing)}
		if withNS {
			row = append([]string{r.Namespace}, row...)
		}
		if wide {
			row = append(row, fmt.Sprint(r.ReadyReplicas), dash(r.Message))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
}

func printTenantDetail(w io.Writer, r *tenantReport, now time.Time, wide bool) {
	line := func(label, value string) { fmt.Fprintf(w, "%-14s %s\n", label+":", value) }
	line("Tenant", r.Namespace+"/"+r.Name)
	line("URL", dash(r.URL))
	ready := r.Ready + " (" + r.Reason + ")"
	if r.Ready != "True" && r.Message != "" {
		ready += ": " + r.Message
	}
	line("Ready", ready)
	line("Replicas", fmt.Sprintf("%d ready", r.ReadyReplicas))
	if r.Storage != "" {
		line("Storage", r.Storage)
	}
	if r.Users != nil || r.ActiveUsers != nil {
		users := intOr(r.Users, "?")
		if r.ActiveUsers != nil || r.InactiveUsers != nil {
			users += fmt.Sprintf(" (%s active, %s inactive)", intOr(r.ActiveUsers, "?"), intOr(r.InactiveUsers, "?"))
		}
		line("Users", users)
	} else {
		line("Users", "- (the server has not reported yet)")
	}
	line("Groups", intOr(r.Groups, "-"))
	if r.LastSync != nil {
		line("Last sync", fmt.Sprintf("%s (%s)", ago(r.LastSync, now), r.LastSync.Format(time.RFC3339)))
	} else {
		line("Last sync", "- (no request with a ScimToken yet)")
	}
	if r.LastWrite != nil {
		line("Last write", fmt.Sprintf("%s (%s)", ago(r.LastWrite, now), r.LastWrite.Format(time.RFC3339)))
	}
	if r.LastClientError != nil {
		e := r.LastClientError
		line("Last error", fmt.Sprintf("%s (%s)", strings.Join(slices.DeleteFunc([]string{fmt.Sprint(e.Status), e.ScimType, e.Detail}, func(s string) bool { return s == "" }), " "), ago(&e.Time, now)))
	}
	for _, c := range r.Conditions {
		// Ready is shown above; the others only when they say something
		// is going on (Degraded, Progressing True), Syncing always, or all
		// with -o wide.
		if c.Type == scimv1alpha1.ConditionReady || (!wide && c.Status != metav1.ConditionTrue && c.Type != scimv1alpha1.ConditionSyncing) {
			continue
		}
		line(c.Type, fmt.Sprintf("%s (%s): %s", c.Status, c.Reason, c.Message))
	}

	fmt.Fprintln(w)
	if len(r.Tokens) == 0 {
		fmt.Fprintf(w, "Tokens: none. Create a ScimToken with tenantRef.name: %s (see config/samples).\n", r.Name)
	} else {
		fmt.Fprintln(w, "Tokens:")
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		hdr := "  NAME\tREADY\tFINGERPRINT\tREVISION\tISSUED\tNEXT ROTATION\tEXPIRES\tLAST USED\tSWITCHED\tPREVIOUS"
		if wide {
			hdr += "\tSECRET\tSCOPES"
		}
		fmt.Fprintln(tw, hdr)
		for _, t := range r.Tokens {
			ready := t.Ready
			if t.Ready != "True" {
				ready += " (" + t.Reason + ")"
			}
			prev := "-"
			if t.PreviousFingerprint != "" && t.PreviousValidUntil != nil && t.PreviousValidUntil.After(now) {
				prev = fmt.Sprintf("%s valid until %s", t.PreviousFingerprint, ago(t.PreviousValidUntil, now))
				if t.PreviousLastUsed != nil {
					prev += ", used " + ago(t.PreviousLastUsed, now)
				}
			}
			row := fmt.Sprintf("  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s", t.Name, ready, dash(t.Fingerprint), t.Revision,
				ago(t.IssuedAt, now), ago(t.NextRotationAt, now), ago(t.ExpiresAt, now), ago(t.LastUsed, now), dash(t.Switched), prev)
			if wide {
				row += fmt.Sprintf("\t%s\t%s", t.Secret, strings.Join(t.Scopes, ","))
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
	}
	if len(r.Webhooks) > 0 {
		fmt.Fprintln(w, "\nWebhooks:")
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tREADY\tSTATE\tLAG\tLAST DELIVERED\tURL")
		for _, h := range r.Webhooks {
			ready := h.Ready
			if h.Ready != "True" && h.Reason != "" {
				ready += " (" + h.Reason + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Name, ready, dash(h.State), dash(h.Lag), ago(h.LastDelivered, now), dash(h.URL))
		}
		tw.Flush()
	}
}

// conditionStatus is a condition's status for a table column, "-" when absent.
func conditionStatus(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status)
	}
	return "-"
}
