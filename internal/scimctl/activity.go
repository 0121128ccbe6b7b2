package scimctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// ActivityPath is the tenant server's activity log endpoint (outside the
// SCIM base path, like /v1/status), readable only with the activity scope.
const ActivityPath = statusdoc.ActivityPath

type activityOptions struct {
	Options
	k      *kube
	conn   connFlags
	output string
	follow bool
	since  time.Duration
}

// errNoActivityLog is a server without the endpoint.
var errNoActivityLog = errors.New("this server version has no activity log (GET " + ActivityPath + " answered 404): upgrade the tenant's server image to one that records it")

func newActivityCommand(o Options, k *kube) *cobra.Command {
	ao := &activityOptions{Options: o, k: k}
	cmd := &cobra.Command{
		Use:   "activity <tenant>",
		Short: "Show the tenant server's recent requests (activity log); --follow streams new ones",
		Long: `Reads the tenant server's activity log (GET /v1/activity): time, method, path,
status, scimType and detail of each request, the fingerprint of the token that
sent it, and its duration. Request bodies and tokens are never recorded.
The log is read with a ScimToken of the tenant with the activity scope: the
one --token-from names, else the first Ready one (the error shows the YAML
to create one). Connection flags as for test-connection; with --url, the
server's own address is used (the log is not under the SCIM base path, so an
ingress that routes only /scim/v2 does not reach it).`,
		Example: `  kubectl scim activity acme --since 1h
  kubectl scim activity acme --follow`,
		Args:              exactArgs("tenant"),
		ValidArgsFunction: firstArg(completeNames(k, tenantNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(ao.output, false); err != nil {
				return err
			}
			if err := ao.conn.check(); err != nil {
				return err
			}
			if ao.since < 0 {
				return usagef("--since must be positive")
			}
			return ao.run(cmd.Context(), args[0])
		},
	}
	ao.conn.add(cmd, k, "ScimToken with the activity scope to read the log with (default: the tenant's first Ready one)")
	addOutputFlag(cmd, &ao.output, false)
	cmd.Flags().BoolVarP(&ao.follow, "follow", "f", false, "Keep printing new requests as they come, until interrupted")
	cmd.Flags().DurationVar(&ao.since, "since", time.Hour, "Show requests of this last period")
	return cmd
}

func (ao *activityOptions) run(ctx context.Context, name string) error {
	t, err := ao.k.tenant(ctx, name)
	if err != nil {
		return err
	}
	token, _, err := activityToken(ctx, ao.k.client, t, ao.conn.tokenFrom)
	if err != nil {
		return err
	}
	ep, err := ao.conn.connect(ctx, ao.k, t, ao.Streams.ErrOut)
	if err != nil {
		return err
	}
	defer ep.close()
	ep.token = token

	since := ao.Now().Add(-ao.since).UTC().Format(time.RFC3339Nano)
	var tw *tabwriter.Writer
	if ao.output == outputTable {
		tw = tabwriter.NewWriter(ao.Streams.Out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tMETHOD\tPATH\tSTATUS\tSCIMTYPE\tTOKEN\tFINGERPRINT\tMS\tDETAIL")
	}
	var all []statusdoc.ActivityEntry
	for {
		page, err := fetchActivity(ctx, ep, since, ao.follow)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			switch {
			case ao.output == outputTable:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.0f\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Method, e.Path, e.Status,
					dash(e.ScimType), dash(e.Token), dash(e.TokenFingerprint), e.DurationMs, e.Detail)
			case ao.follow:
				// Streamed: one JSON document per entry (JSON lines), so
				// a consumer can read while it follows.
				raw, _ := json.Marshal(e)
				fmt.Fprintf(ao.Streams.Out, "%s\n", raw)
			default:
				all = append(all, e)
			}
		}
		if tw != nil {
			tw.Flush()
		}
		if page.Next != "" {
			since = page.Next
		} else if n := len(page.Entries); n > 0 {
			since = page.Entries[n-1].Time.UTC().Format(time.RFC3339Nano)
		}
		if !ao.follow {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(ao.PollInterval):
		}
	}
	if ao.output != outputTable && !ao.follow {
		if all == nil {
			all = []statusdoc.ActivityEntry{}
		}
		return printStructured(ao.Streams.Out, ao.output, map[string]any{"entries": all})
	}
	return nil
}

// fetchActivity reads one page after since. With follow, the server holds
// an empty answer until a request comes (long poll, at most 25 s).
func fetchActivity(ctx context.Context, ep *endpoint, since string, follow bool) (*statusdoc.ActivityPage, error) {
	u := *ep.origin
	u.Path = ActivityPath
	q := url.Values{"since": {since}}
	if follow {
		q.Set("follow", "true")
	}
	u.RawQuery = q.Encode()
	resp, err := ep.get(ctx, &u)
	if err != nil {
		if ctx.Err() != nil {
			return &statusdoc.ActivityPage{}, nil
		}
		return nil, fmt.Errorf("calling the tenant's server through %s: %w", ep.via, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/scim+json" && ct != "application/json" {
			// Not the SCIM server's own 404: an ingress without a rule for
			// the path answered.
			return nil, fmt.Errorf("nothing at %s%s (404%s): the URL does not reach the tenant's server itself; an ingress routes only <path>/scim/v2: use the default port-forward, or the server's own address", ep.origin, ActivityPath, scimDetailOrBody(body))
		}
		return nil, errNoActivityLog
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("the server refused the token for the activity log (%d%s): it needs a ScimToken with the activity scope (see --token-from)", resp.StatusCode, scimDetailOrBody(body))
	default:
		return nil, fmt.Errorf("GET %s answered %d%s", ActivityPath, resp.StatusCode, scimDetailOrBody(body))
	}
	var page statusdoc.ActivityPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("GET %s: unexpected answer (%s): %w", ActivityPath, strings.TrimSpace(resp.Header.Get("Content-Type")), err)
	}
	return &page, nil
}

// activityToken is the token to read a tenant's activity log with: the
// ScimToken --token-from names, else the tenant's first Ready, unrevoked
// ScimToken that lists the activity scope (the default scopes, read and
// write, do not include it).
func activityToken(ctx context.Context, c client.Client, t *scimv1alpha1.ScimTenant, from string) (string, string, error) {
	if from != "" {
		tok := &scimv1alpha1.ScimToken{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: from}, tok); err == nil && !slices.Contains(tok.Spec.Scopes, scimv1alpha1.ScopeActivity) {
			return "", "", fmt.Errorf("ScimToken %s/%s lacks the activity scope the activity log needs (its scopes: %v): name another with --token-from, or create one:\n\n%s", t.Namespace, from, tok.Spec.Scopes, activityTokenYAML(t))
		}
		return tokenFor(ctx, c, t, from, scimv1alpha1.ScopeActivity)
	}
	tokens, err := tenantTokens(ctx, c, t.Namespace, t.Name)
	if err != nil {
		return "", "", err
	}
	for i := range tokens {
		tok := &tokens[i]
		if !tok.Spec.Revoked && slices.Contains(tok.Spec.Scopes, scimv1alpha1.ScopeActivity) &&
			meta.IsStatusConditionTrue(tok.Status.Conditions, scimv1alpha1.ConditionReady) {
			v, err := readToken(ctx, c, tok)
			return v, tok.Name, err
		}
	}
	return "", "", fmt.Errorf(`tenant %s/%s has no Ready ScimToken with the activity scope, which reading the activity log needs (Entra's token has read and write only, the operator's own token status only). Create one:

%s
then run the command again, or name one with --token-from`, t.Namespace, t.Name, activityTokenYAML(t))
}

// activityTokenYAML is the ScimToken to create for reading the log.
func activityTokenYAML(t *scimv1alpha1.ScimTenant) string {
	return fmt.Sprintf(`kubectl apply -f - <<EOF
apiVersion: scim.operator.dev/v1alpha1
kind: ScimToken
metadata:
  name: %[1]s-activity
  namespace: %[2]s
spec:
  tenantRef:
    name: %[1]s
  scopes: [activity]
EOF
`, t.Name, t.Namespace)
}
