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
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

const listResponseURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

type testConnOptions struct {
	Options
	k      *kube
	conn   connFlags
	output string
}

// probeResult is one of Entra's Test Connection requests and what came back.
type probeResult struct {
	Request    string `json:"request"`
	Status     int    `json:"status,omitempty"`
	DurationMs int64  `json:"durationMs"`
	OK         bool   `json:"ok"`
	// Problem and Fix say what was wrong and what to do, when not OK.
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

type verdict struct {
	Tenant  string        `json:"tenant"`
	Via     string        `json:"via"`
	Token   string        `json:"token,omitempty"`
	Verdict string        `json:"verdict"` // PASS or FAIL
	Probes  []probeResult `json:"probes"`
}

func newTestConnectionCommand(o Options, k *kube) *cobra.Command {
	to := &testConnOptions{Options: o, k: k}
	cmd := &cobra.Command{
		Use:   "test-connection <tenant>",
		Short: "Run Entra's Test Connection requests against a tenant and say PASS or FAIL",
		Long: `Sends the requests Entra's "Test Connection" button sends, with the tenant's token:
  GET /Users?filter=userName eq "<random GUID>"
  GET /Groups?filter=displayName eq "<random GUID>"&excludedAttributes=members (when the tenant serves groups)
and expects what Entra expects: 200 with an empty SCIM ListResponse. Prints PASS,
or FAIL with the reason and what to do; the exit code is 0 for PASS and 1 for FAIL.

By default the requests go through a port-forward to a pod of the tenant's Service.
--url sends them to another address: the public Tenant URL (through the ingress,
as Entra does), or with make demo, which runs no Pods, the Local URL it prints:
  kubectl scim test-connection acme --url http://127.0.0.1:8480/apps/acme/scim/v2 --host-header scim.example.com`,
		Example: `  kubectl scim test-connection acme
  kubectl scim test-connection acme --url "$(kubectl get scimtenant acme -o jsonpath='{.status.tenantURL}')"`,
		Args:              exactArgs("tenant"),
		ValidArgsFunction: firstArg(completeNames(k, tenantNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(to.output, false); err != nil {
				return err
			}
			if err := to.conn.check(); err != nil {
				return err
			}
			return to.run(cmd.Context(), args[0])
		},
	}
	to.conn.add(cmd, k, "Use the token of this ScimToken (default: the tenant's first Ready token with the read scope)")
	addOutputFlag(cmd, &to.output, false)
	return cmd
}

func (to *testConnOptions) run(ctx context.Context, name string) error {
	t, err := to.k.tenant(ctx, name)
	if err != nil {
		return err
	}
	token, tokenName, err := tokenFor(ctx, to.k.client, t, to.conn.tokenFrom, scimv1alpha1.ScopeRead)
	if err != nil {
		return err
	}
	ep, err := to.conn.connect(ctx, to.k, t, to.Streams.ErrOut)
	if err != nil {
		return err
	}
	defer ep.close()
	ep.token = token

	v := verdict{Tenant: t.Namespace + "/" + t.Name, Via: ep.via, Token: tokenName, Verdict: "PASS"}
	v.Probes = append(v.Probes, probe(ctx, ep, "/Users", url.Values{"filter": {`userName eq "` + uuid.NewString() + `"`}}))
	if servesGroups(t) && v.Probes[0].OK {
		v.Probes = append(v.Probes, probe(ctx, ep, "/Groups", url.Values{
			"filter":             {`displayName eq "` + uuid.NewString() + `"`},
			"excludedAttributes": {"members"},
		}))
	}
	for _, p := range v.Probes {
		if !p.OK {
			v.Verdict = "FAIL"
		}
	}
	if to.output != outputTable {
		if err := printStructured(to.Streams.Out, to.output, v); err != nil {
			return err
		}
	} else {
		printVerdict(to.Streams.Out, &v)
	}
	if v.Verdict != "PASS" {
		return silentError{}
	}
	return nil
}

func servesGroups(t *scimv1alpha1.ScimTenant) bool {
	return len(t.Spec.ResourceTypes) == 0 || slices.Contains(t.Spec.ResourceTypes, scimv1alpha1.ResourceTypeGroup)
}

func printVerdict(w io.Writer, v *verdict) {
	fmt.Fprintf(w, "Testing tenant %s through %s with ScimToken %s:\n", v.Tenant, v.Via, v.Token)
	for _, p := range v.Probes {
		mark := "ok"
		if !p.OK {
			mark = "FAILED"
		}
		status := "no answer"
		if p.Status != 0 {
			status = fmt.Sprintf("%d %s", p.Status, http.StatusText(p.Status))
		}
		fmt.Fprintf(w, "  GET %s -> %s (%d ms) %s\n", p.Request, status, p.DurationMs, mark)
	}
	if v.Verdict == "PASS" {
		fmt.Fprintln(w, "PASS: Entra's Test Connection would succeed: 200 with an empty ListResponse.")
		return
	}
	for _, p := range v.Probes {
		if !p.OK {
			fmt.Fprintf(w, "FAIL: %s\n  What to do: %s\n", p.Problem, p.Fix)
			return
		}
	}
}

// probe sends one Test Connection request and judges the answer as Entra does.
func probe(ctx context.Context, ep *endpoint, path string, q url.Values) probeResult {
	u := ep.scimURL(path, q)
	decoded, _ := url.QueryUnescape(u.RawQuery)
	r := probeResult{Request: path + "?" + decoded}
	start := time.Now()
	resp, err := ep.get(ctx, u)
	r.DurationMs = time.Since(start).Milliseconds()
	if err != nil {
		r.Problem = "no answer from " + u.Host + ": " + err.Error()
		r.Fix = "check that the URL is right and the server runs (kubectl scim status); through an ingress, that its address resolves and answers"
		var uerr *url.Error
		if errors.As(err, &uerr) && uerr.Timeout() {
			r.Fix = "the server did not answer in time (Entra gives up too): check the server's log and the ingress's timeouts"
		}
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r.Status = resp.StatusCode
	r.Problem, r.Fix = judge(path, resp, body)
	r.OK = r.Problem == ""
	return r
}

// judge says what is wrong with a Test Connection answer, and what to do,
// or nothing when Entra would accept it.
func judge(path string, resp *http.Response, body []byte) (problem, fix string) {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := ct == "application/scim+json" || ct == "application/json"
	detail := scimDetail(body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "the server refused the token (401" + detail + ")",
			"Entra would report invalid credentials: copy the current token from the ScimToken's Secret into Entra's Secret Token field; if the token expired or was revoked, kubectl scim status shows it, and kubectl scim rotate <token> --wait issues a new one"
	case resp.StatusCode == http.StatusForbidden && isJSON:
		return "the token may not read (403" + detail + ")", "Entra's token needs the read and write scopes: check the ScimToken's spec.scopes"
	case resp.StatusCode == http.StatusForbidden:
		return "something in front of the server refused the request with a non-SCIM 403 (a WAF or proxy?)",
			"Entra sends no User-Agent: exempt the SCIM path from bot rules and let Authorization headers through"
	case resp.StatusCode == http.StatusNotFound:
		return "no SCIM endpoint at " + path + " (404" + detail + ")",
			"Entra reports ServiceIncompatible: the Tenant URL must be the ScimTenant's status.tenantURL exactly, ending in /scim/v2; through an ingress, check that its host and path route to the tenant"
	case resp.StatusCode == http.StatusTooManyRequests:
		return "the server is rate-limiting (429" + detail + ")", "raise the tenant's or the token's rateLimit (Entra needs at least 25 requests per second), or try again"
	case resp.StatusCode >= 500:
		return fmt.Sprintf("the server failed (%d%s)", resp.StatusCode, detail), "read the server's log (kubectl logs deploy/<tenant>-scim, or the log file make demo prints)"
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("Entra expects 200 OK, the server answered %d%s", resp.StatusCode, detail), "check the URL and the server's log"
	case !isJSON:
		return "the answer is " + dash(ct) + ", not SCIM JSON: something other than the SCIM server answered",
			"point the URL at the tenant (status.tenantURL) and check the ingress routes to it"
	}
	var list struct {
		Schemas      []string          `json:"schemas"`
		TotalResults json.RawMessage   `json:"totalResults"`
		Resources    []json.RawMessage `json:"Resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "the answer is not a SCIM JSON object: " + err.Error(), "check that the URL reaches the SCIM server"
	}
	total := string(list.TotalResults)
	switch {
	case !slices.Contains(list.Schemas, listResponseURN):
		return "the answer is not a SCIM ListResponse (schemas lacks " + listResponseURN + ")", "check that the URL reaches the SCIM server"
	case !isJSONInteger(total):
		// Entra cannot deserialize a list whose counters are not integers.
		return "the ListResponse's totalResults is not a JSON integer (" + dash(total) + ")", "Entra cannot read this list: fix the server (it must send totalResults as a number)"
	case len(list.Resources) > 0 || total != "0":
		return "a filter on a random GUID matched " + total + " resource(s): Entra expects none",
			"the server's filter is not applied: check the server version"
	}
	return "", ""
}

func isJSONInteger(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// scimDetail is ": <detail>" of a SCIM error body, or "".
func scimDetail(body []byte) string {
	var e struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(body, &e) != nil || e.Detail == "" {
		return ""
	}
	if e.ScimType != "" {
		return ", " + e.ScimType + ": " + e.Detail
	}
	return ": " + e.Detail
}
