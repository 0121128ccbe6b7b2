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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// Provisioning counts and times: filled when the operator reports them
	// in the tenant's status (older operators do not).
	Users           *int64             `json:"users,omitempty"`
	ActiveUsers     *int64             `json:"activeUsers,omitempty"`
	InactiveUsers   *int64             `json:"inactiveUsers,omitempty"`
	Groups          *int64             `json:"groups,omitempty"`
	LastSync        *time.Time         `json:"lastSync,omitempty"`
	LastWrite       *time.Time         `json:"lastWrite,omitempty"`
	LastClientError map[string]any     `json:"lastClientError,omitempty"`
	Conditions      []metav1.Condition `json:"conditions,omitempty"`
	Tokens          []tokenReport      `json:"tokens"`
	Webhooks        []webhookReport    `json:"webhooks,omitempty"`
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
With a tenant, its details: Tenant URL, readiness and why, provisioning counts and
last sync (when the operator reports them), its tokens with fingerprints,
revision, next rotation and last use, and its webhooks with their lag.`,
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

var (
	tenantGVK  = scimv1alpha1.GroupVersion.WithKind("ScimTenant")
	tokenGVK   = scimv1alpha1.GroupVersion.WithKind("ScimToken")
	webhookGVK = scimv1alpha1.GroupVersion.WithKind("ScimWebhook")
)

func (so *statusOptions) run(ctx context.Context, args []string) error {
	c, err := so.k.connect()
	if err != nil {
		return err
	}
	ns, err := so.k.namespace()
	if err != nil {
		return err
	}
	// Unstructured, so that status fields newer than this plugin's API
	// types (counts, last sync, last use) are read when the operator has them.
	var tenants []unstructured.Unstructured
	if len(args) == 1 {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(tenantGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: args[0]}, u); err != nil {
			return notFoundHint(err, "ScimTenant", ns, args[0])
		}
		tenants = append(tenants, *u)
	} else {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(tenantGVK.GroupVersion().WithKind("ScimTenantList"))
		var opts []client.ListOption
		if !so.allNamespaces {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			return notFoundHint(err, "ScimTenant", ns, "*")
		}
		tenants = list.Items
	}
	tokens, err := listUnstructured(ctx, c, tokenGVK, ns, so.allNamespaces)
	if err != nil {
		return err
	}
	webhooks, err := listUnstructured(ctx, c, webhookGVK, ns, so.allNamespaces)
	if err != nil && !meta.IsNoMatchError(err) {
		return err
	}
	reports := make([]tenantReport, 0, len(tenants))
	for i := range tenants {
		r, err := buildTenantReport(&tenants[i], tokens, webhooks)
		if err != nil {
			return err
		}
		reports = append(reports, r)
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

func listUnstructured(ctx context.Context, c client.Client, gvk schema.GroupVersionKind, ns string, all bool) ([]unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	var opts []client.ListOption
	if !all {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, err
		}
		return nil, fmt.Errorf("listing %ss: %w", gvk.Kind, err)
	}
	return list.Items, nil
}

func buildTenantReport(u *unstructured.Unstructured, tokens, webhooks []unstructured.Unstructured) (tenantReport, error) {
	var t scimv1alpha1.ScimTenant
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &t); err != nil {
		return tenantReport{}, fmt.Errorf("decoding ScimTenant %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	r := tenantReport{
		Namespace: t.Namespace, Name: t.Name, URL: t.Status.TenantURL,
		ReadyReplicas: t.Status.ReadyReplicas, ActiveTokens: t.Status.ActiveTokens,
		Conditions: t.Status.Conditions, Tokens: []tokenReport{},
	}
	r.Ready, r.Reason, r.Message = readyOf(t.Status.Conditions)
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	r.Users = firstInt(st, "users.total", "users", "userCount", "counts.users")
	r.ActiveUsers = firstInt(st, "users.active", "activeUsers", "counts.activeUsers")
	r.InactiveUsers = firstInt(st, "users.inactive", "inactiveUsers", "counts.inactiveUsers")
	r.Groups = firstInt(st, "groups.total", "groups", "groupCount", "counts.groups")
	r.LastSync = firstTime(st, "lastSyncTime", "lastSync", "lastRequestTime", "lastRequestAt", "lastActivityTime")
	r.LastWrite = firstTime(st, "lastWriteTime", "lastWriteAt", "lastSuccessfulWriteTime", "lastSuccessfulWriteAt")
	r.LastClientError = firstMap(st, "lastClientError", "lastError")

	for i := range tokens {
		if tokens[i].GetNamespace() != t.Namespace {
			continue
		}
		var tok scimv1alpha1.ScimToken
		if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(tokens[i].Object, &tok); err != nil {
			return tenantReport{}, fmt.Errorf("decoding ScimToken %s/%s: %w", tokens[i].GetNamespace(), tokens[i].GetName(), err)
		}
		if tok.Spec.TenantRef.Name != t.Name {
			continue
		}
		tst, _, _ := unstructured.NestedMap(tokens[i].Object, "status")
		r.Tokens = append(r.Tokens, buildTokenReport(&tok, tst))
	}
	slices.SortFunc(r.Tokens, func(a, b tokenReport) int { return strings.Compare(a.Name, b.Name) })

	for i := range webhooks {
		w := &webhooks[i]
		ref, _, _ := unstructured.NestedString(w.Object, "spec", "tenantRef", "name")
		if w.GetNamespace() != t.Namespace || ref != t.Name {
			continue
		}
		wr := webhookReport{Name: w.GetName()}
		wr.URL, _, _ = unstructured.NestedString(w.Object, "spec", "url")
		wst, _, _ := unstructured.NestedMap(w.Object, "status")
		wr.Ready, wr.Reason, _ = readyOf(conditionsOf(wst))
		wr.Lag = lagOf(wst)
		wr.State, _, _ = unstructured.NestedString(wst, "state")
		wr.LastDelivered = firstTime(wst, "lastDeliveredAt")
		r.Webhooks = append(r.Webhooks, wr)
	}
	slices.SortFunc(r.Webhooks, func(a, b webhookReport) int { return strings.Compare(a.Name, b.Name) })
	return r, nil
}

func buildTokenReport(tok *scimv1alpha1.ScimToken, st map[string]any) tokenReport {
	r := tokenReport{
		Name: tok.Name, Secret: tokenSecretName(tok), Revoked: tok.Spec.Revoked,
		Fingerprint: tok.Status.Fingerprint, Revision: tok.Status.Revision,
		IssuedAt: timeOf(tok.Status.IssuedAt), NextRotationAt: timeOf(tok.Status.NextRotationAt),
		ExpiresAt: timeOf(tok.Status.ExpiresAt), PreviousFingerprint: tok.Status.PreviousFingerprint,
		PreviousValidUntil: timeOf(tok.Status.PreviousValidUntil),
	}
	for _, s := range tok.Spec.Scopes {
		r.Scopes = append(r.Scopes, string(s))
	}
	r.Ready, r.Reason, _ = readyOf(tok.Status.Conditions)
	r.LastUsed = firstTime(st, "lastUsedAt", "lastUsed", "lastUsedTime", "current.lastUsedAt")
	r.PreviousLastUsed = firstTime(st, "previousLastUsedAt", "previousLastUsed", "previousLastUsedTime", "previous.lastUsedAt")
	return r
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

func conditionsOf(st map[string]any) []metav1.Condition {
	raw, ok, _ := unstructured.NestedSlice(st, "conditions")
	if !ok {
		return nil
	}
	var out []metav1.Condition
	for _, c := range raw {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		var cond metav1.Condition
		if k8sruntime.DefaultUnstructuredConverter.FromUnstructured(m, &cond) == nil {
			out = append(out, cond)
		}
	}
	return out
}

// lagOf reads a webhook's delivery lag in whichever form its status gives.
func lagOf(st map[string]any) string {
	if v, ok := nested(st, "lag").(string); ok {
		return v
	}
	if n := firstInt(st, "lag"); n != nil {
		if *n == 1 {
			return "1 event"
		}
		return fmt.Sprintf("%d events", *n)
	}
	return ""
}

// nested walks a dotted path through JSON maps.
func nested(m map[string]any, path string) any {
	var cur any = m
	for _, seg := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[seg]
	}
	return cur
}

func firstInt(m map[string]any, paths ...string) *int64 {
	for _, p := range paths {
		switch v := nested(m, p).(type) {
		case int64:
			return &v
		case float64:
			n := int64(v)
			return &n
		case int32:
			n := int64(v)
			return &n
		case int:
			n := int64(v)
			return &n
		}
	}
	return nil
}

func firstTime(m map[string]any, paths ...string) *time.Time {
	for _, p := range paths {
		if s, ok := nested(m, p).(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				t = t.UTC()
				return &t
			}
		}
	}
	return nil
}

func firstMap(m map[string]any, paths ...string) map[string]any {
	for _, p := range paths {
		if v, ok := nested(m, p).(map[string]any); ok && len(v) > 0 {
			return v
		}
	}
	return nil
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
	hdr := []string{"NAME", "URL", "READY", "REASON", "TOKENS", "USERS", "GROUPS", "LAST SYNC"}
	if withNS {
		hdr = append([]string{"NAMESPACE"}, hdr...)
	}
	if wide {
		hdr = append(hdr, "REPLICAS", "MESSAGE")
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range rs {
		row := []string{r.Name, dash(r.URL), r.Ready, r.Reason, fmt.Sprint(r.ActiveTokens),
			intOr(r.Users, "-"), intOr(r.Groups, "-"), ago(r.LastSync, now)}
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
	if r.Users != nil || r.ActiveUsers != nil {
		users := intOr(r.Users, "?")
		if r.ActiveUsers != nil || r.InactiveUsers != nil {
			users += fmt.Sprintf(" (%s active, %s inactive)", intOr(r.ActiveUsers, "?"), intOr(r.InactiveUsers, "?"))
		}
		line("Users", users)
	} else {
		line("Users", "- (this operator version does not report counts)")
	}
	if r.Groups != nil {
		line("Groups", intOr(r.Groups, "-"))
	}
	if r.LastSync != nil {
		line("Last sync", fmt.Sprintf("%s (%s)", ago(r.LastSync, now), r.LastSync.Format(time.RFC3339)))
	}
	if r.LastWrite != nil {
		line("Last write", fmt.Sprintf("%s (%s)", ago(r.LastWrite, now), r.LastWrite.Format(time.RFC3339)))
	}
	if r.LastClientError != nil {
		e := r.LastClientError
		line("Last error", strings.TrimSpace(fmt.Sprintf("%v %v %v (%v)", valueOr(e["status"]), valueOr(e["scimType"]), valueOr(e["detail"]), valueOr(e["time"]))))
	}
	for _, c := range r.Conditions {
		// Ready is shown above; the others only when they say something
		// is going on (Degraded, Progressing True), Syncing always, or all
		// with -o wide.
		if c.Type == scimv1alpha1.ConditionReady || (!wide && c.Status != metav1.ConditionTrue && c.Type != "Syncing") {
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
		hdr := "  NAME\tREADY\tFINGERPRINT\tREVISION\tISSUED\tNEXT ROTATION\tEXPIRES\tLAST USED\tPREVIOUS"
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
			row := fmt.Sprintf("  %s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s", t.Name, ready, dash(t.Fingerprint), t.Revision,
				ago(t.IssuedAt, now), ago(t.NextRotationAt, now), ago(t.ExpiresAt, now), ago(t.LastUsed, now), prev)
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

func valueOr(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
