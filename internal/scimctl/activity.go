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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ActivityPath is the tenant server's activity log endpoint (outside the
// SCIM base path, like /v1/status), readable with the status or activity scope.
const ActivityPath = "/v1/activity"

// operatorTokenSecret holds the operator's own token of a tenant (scope
// status), which may read the activity log.
func operatorTokenSecret(tenant string) string { return tenant + "-scim-operator" }

type activityOptions struct {
	Options
	k           *kube
	conn        connFlags
	output      string
	follow      bool
	since       time.Duration
	tokenSecret string
}

// activityEntry is one request of the activity log, as the server records
// it: never a request body or a token, only the token's fingerprint.
type activityEntry struct {
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	ScimType   string    `json:"scimType,omitempty"`
	Detail     string    `json:"detail,omitempty"`
	Token      string    `json:"token,omitempty"`
	DurationMs float64   `json:"durationMs"`
}

type activityPage struct {
	Entries []activityEntry `json:"entries"`
	// Next is the since value that continues after the last entry.
	Next json.RawMessage `json:"next"`
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
The log is read with the operator's status token (Secret <tenant>-scim-operator)
unless --token-secret names another Secret with a token of the status or
activity scope. Connection flags as for test-connection; with --url, the
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
			if ao.conn.tokenFrom != "" {
				return usagef("activity reads with a Secret's token (--token-secret): ScimTokens carry read and write scopes only")
			}
			return ao.run(cmd.Context(), args[0])
		},
	}
	ao.conn.add(cmd, k, "(not used by activity: see --token-secret)")
	_ = cmd.Flags().MarkHidden("token-from")
	addOutputFlag(cmd, &ao.output, false)
	cmd.Flags().BoolVarP(&ao.follow, "follow", "f", false, "Keep printing new requests as they come, until interrupted")
	cmd.Flags().DurationVar(&ao.since, "since", time.Hour, "Show requests of this last period")
	cmd.Flags().StringVar(&ao.tokenSecret, "token-secret", "", "Secret (key token) with a status- or activity-scoped token (default: <tenant>-scim-operator)")
	return cmd
}

func (ao *activityOptions) run(ctx context.Context, name string) error {
	t, err := ao.k.tenant(ctx, name)
	if err != nil {
		return err
	}
	secretName := ao.tokenSecret
	if secretName == "" {
		secretName = operatorTokenSecret(t.Name)
	}
	s := &corev1.Secret{}
	if err := ao.k.client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: secretName}, s); err != nil {
		return fmt.Errorf("reading the token for the activity log from Secret %s/%s: %w (the operator creates it for each tenant; an older operator does not: name a Secret with --token-secret)", t.Namespace, secretName, err)
	}
	token := string(s.Data["token"])
	if token == "" {
		return fmt.Errorf("Secret %s/%s has no key token", t.Namespace, secretName)
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
		fmt.Fprintln(tw, "TIME\tMETHOD\tPATH\tSTATUS\tSCIMTYPE\tTOKEN\tMS\tDETAIL")
	}
	var all []activityEntry
	for {
		page, err := fetchActivity(ctx, ep, since)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			switch {
			case ao.output == outputTable:
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%.0f\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Method, e.Path, e.Status,
					dash(e.ScimType), dash(e.Token), e.DurationMs, e.Detail)
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
		if next := nextSince(page.Next); next != "" {
			since = next
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
			all = []activityEntry{}
		}
		return printStructured(ao.Streams.Out, ao.output, map[string]any{"entries": all})
	}
	return nil
}

// nextSince reads next as a string cursor or a number.
func nextSince(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func fetchActivity(ctx context.Context, ep *endpoint, since string) (*activityPage, error) {
	u := *ep.origin
	u.Path = ActivityPath
	u.RawQuery = url.Values{"since": {since}}.Encode()
	resp, err := ep.get(ctx, &u)
	if err != nil {
		if ctx.Err() != nil {
			return &activityPage{}, nil
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
		return nil, fmt.Errorf("the server refused the token for the activity log (%d%s): it needs the status or activity scope", resp.StatusCode, scimDetailOrBody(body))
	default:
		return nil, fmt.Errorf("GET %s answered %d%s", ActivityPath, resp.StatusCode, scimDetailOrBody(body))
	}
	var page activityPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("GET %s: unexpected answer (%s): %w", ActivityPath, strings.TrimSpace(resp.Header.Get("Content-Type")), err)
	}
	return &page, nil
}
