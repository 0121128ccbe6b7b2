package scimctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

type usersOptions struct {
	Options
	k      *kube
	conn   connFlags
	output string
	filter string
	limit  int
	chunk  int
}

func newUsersCommand(o Options, k *kube) *cobra.Command {
	uo := &usersOptions{Options: o, k: k}
	cmd := &cobra.Command{
		Use:   "users <tenant>",
		Short: "List the users provisioned into a tenant, through its SCIM API",
		Long: `Lists the tenant's users with a SCIM GET /Users, page by page, with a read token.
--filter takes a SCIM filter (RFC 7644 §3.4.2.2), for example
  userName eq "alice@example.com"   or   active eq false   or   name.familyName sw "Sm"
Connection flags as for test-connection (port-forward by default, or --url).`,
		Example: `  kubectl scim users acme
  kubectl scim users acme --filter 'active eq false' -o json`,
		Args:              exactArgs("tenant"),
		ValidArgsFunction: firstArg(completeNames(k, tenantNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(uo.output, true); err != nil {
				return err
			}
			if err := uo.conn.check(); err != nil {
				return err
			}
			if uo.limit < 0 {
				return usagef("--limit must be 0 (all) or positive")
			}
			if uo.chunk < 1 || uo.chunk > maxPageSize {
				return usagef("--chunk-size must be between 1 and %d", maxPageSize)
			}
			return uo.run(cmd.Context(), args[0])
		},
	}
	uo.conn.add(cmd, k, "Use the token of this ScimToken (default: the tenant's first Ready token with the read scope)")
	addOutputFlag(cmd, &uo.output, true)
	cmd.Flags().StringVar(&uo.filter, "filter", "", `SCIM filter, for example 'userName eq "alice@example.com"'`)
	cmd.Flags().IntVar(&uo.limit, "limit", 0, "List at most this many users (0: all)")
	cmd.Flags().IntVar(&uo.chunk, "chunk-size", maxPageSize, "Users asked per request (SCIM count), as kubectl get --chunk-size")
	return cmd
}

// maxPageSize is the server's largest page (filter.maxResults).
const maxPageSize = 1000

func (uo *usersOptions) run(ctx context.Context, name string) error {
	t, err := uo.k.tenant(ctx, name)
	if err != nil {
		return err
	}
	token, _, err := tokenFor(ctx, uo.k.client, t, uo.conn.tokenFrom, scimv1alpha1.ScopeRead)
	if err != nil {
		return err
	}
	ep, err := uo.conn.connect(ctx, uo.k, t, uo.Streams.ErrOut)
	if err != nil {
		return err
	}
	defer ep.close()
	ep.token = token

	var users []map[string]any
	total := 0
	for start := 1; ; {
		count := uo.chunk
		if uo.limit > 0 && uo.limit-len(users) < count {
			count = uo.limit - len(users)
		}
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(count)}}
		if uo.filter != "" {
			q.Set("filter", uo.filter)
		}
		page, err := listPage(ctx, ep, "/Users", q)
		if err != nil {
			return err
		}
		total = page.TotalResults
		users = append(users, page.Resources...)
		start += len(page.Resources)
		if len(page.Resources) == 0 || start > page.TotalResults || (uo.limit > 0 && len(users) >= uo.limit) {
			break
		}
	}
	switch uo.output {
	case outputJSON, outputYAML:
		return printStructured(uo.Streams.Out, uo.output, map[string]any{"totalResults": total, "Resources": users})
	}
	if len(users) == 0 {
		fmt.Fprintf(uo.Streams.ErrOut, "No users in tenant %s/%s%s.\n", t.Namespace, t.Name, map[bool]string{true: " match the filter", false: ""}[uo.filter != ""])
		return nil
	}
	printUsers(uo.Streams.Out, users, uo.output == outputWide)
	if len(users) < total {
		fmt.Fprintf(uo.Streams.ErrOut, "%d of %d users shown (--limit).\n", len(users), total)
	}
	return nil
}

type listResponse struct {
	TotalResults int              `json:"totalResults"`
	Resources    []map[string]any `json:"Resources"`
}

// listPage GETs one page of a SCIM list; a SCIM error becomes an error
// that carries its detail.
func listPage(ctx context.Context, ep *endpoint, path string, q url.Values) (*listResponse, error) {
	resp, err := ep.get(ctx, ep.scimURL(path, q))
	if err != nil {
		return nil, fmt.Errorf("calling the tenant through %s: %w", ep.via, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %d%s", path, resp.StatusCode, scimDetailOrBody(body))
	}
	var page listResponse
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not a SCIM ListResponse: %w", path, err)
	}
	return &page, nil
}

// scimDetailOrBody is the SCIM error's detail, or the start of a body that
// is not one (an ingress's error page).
func scimDetailOrBody(body []byte) string {
	if d := scimDetail(body); d != "" {
		return d
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

func printUsers(w io.Writer, users []map[string]any, wide bool) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	hdr := "USERNAME\tACTIVE\tDISPLAY NAME\tEXTERNAL ID"
	if wide {
		hdr += "\tID\tEMAIL\tLAST MODIFIED"
	}
	fmt.Fprintln(tw, hdr)
	for _, u := range users {
		active := "true"
		if a, ok := u["active"].(bool); ok && !a {
			active = "false"
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s", dash(str(u["userName"])), active, dash(str(u["displayName"])), dash(str(u["externalId"])))
		if wide {
			row += fmt.Sprintf("\t%s\t%s\t%s", dash(str(u["id"])), dash(primaryEmail(u)), dash(lastModified(u)))
		}
		fmt.Fprintln(tw, row)
	}
}

func lastModified(u map[string]any) string {
	m, _ := u["meta"].(map[string]any)
	return str(m["lastModified"])
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// primaryEmail is the primary email, else the first.
func primaryEmail(u map[string]any) string {
	emails, _ := u["emails"].([]any)
	first := ""
	for _, e := range emails {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if first == "" {
			first = str(m["value"])
		}
		if p, _ := m["primary"].(bool); p {
			return str(m["value"])
		}
	}
	return first
}
