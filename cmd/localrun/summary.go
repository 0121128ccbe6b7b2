package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers"
	"github.com/scim-operator/scim-operator/localruntime"
)

// tenantInfo is what the user needs to call one tenant.
type tenantInfo struct {
	tenant     scimv1alpha1.ScimTenant
	deployment string
	claim      string
	tokens     []tokenInfo

	// Where the local runtime put the tenant (set by locate).
	serverAddr string // the server's own address, for a tenant without Ingress
	logFile    string // the server's log: what kubectl logs shows in a cluster
	dataDir    string // the sqlite volume
}

// locate fills in where the local runtime runs the tenant's server.
func (info *tenantInfo) locate(rt *localruntime.Runtime) {
	ns := info.tenant.Namespace
	if info.deployment != "" {
		info.serverAddr = rt.ServerAddr(ns, info.deployment)
		info.logFile = rt.LogFile(ns, info.deployment)
	}
	if info.claim != "" {
		info.dataDir = rt.VolumeDir(ns, info.claim)
	}
}

type tokenInfo struct {
	name, secret, token string
}

// waitReady waits until every tenant is Ready and each of its tokens has a
// token in its Secret.
func waitReady(ctx context.Context, c client.Client, rt *localruntime.Runtime) ([]tenantInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last string
	for {
		infos, notReady, err := collect(ctx, c)
		if err == nil && notReady == "" {
			return infos, nil
		}
		if err != nil {
			notReady = err.Error()
		}
		if notReady != last {
			fmt.Println("  waiting:", notReady)
			last = notReady
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("tenants not ready: %s", notReady)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func collect(ctx context.Context, c client.Client) ([]tenantInfo, string, error) {
	var tenants scimv1alpha1.ScimTenantList
	if err := c.List(ctx, &tenants); err != nil {
		return nil, "", err
	}
	var tokens scimv1alpha1.ScimTokenList
	if err := c.List(ctx, &tokens); err != nil {
		return nil, "", err
	}
	if len(tenants.Items) == 0 {
		return nil, "no ScimTenant in the samples", nil
	}
	var infos []tenantInfo
	for _, t := range tenants.Items {
		cond := meta.FindStatusCondition(t.Status.Conditions, scimv1alpha1.ConditionReady)
		if cond == nil || cond.Status != "True" || t.Status.TenantURL == "" {
			msg := "no status yet"
			if cond != nil {
				msg = cond.Reason + ": " + cond.Message
			}
			return nil, fmt.Sprintf("ScimTenant %s/%s is not Ready (%s)", t.Namespace, t.Name, msg), nil
		}
		info := tenantInfo{tenant: t}
		var deps appsv1.DeploymentList
		if err := c.List(ctx, &deps, client.InNamespace(t.Namespace), client.MatchingLabels{controllers.LabelTenant: t.Name}); err != nil {
			return nil, "", err
		}
		if len(deps.Items) == 1 {
			info.deployment = deps.Items[0].Name
		}
		var claims corev1.PersistentVolumeClaimList
		if err := c.List(ctx, &claims, client.InNamespace(t.Namespace), client.MatchingLabels{controllers.LabelTenant: t.Name}); err != nil {
			return nil, "", err
		}
		if len(claims.Items) == 1 {
			info.claim = claims.Items[0].Name
		}
		for _, tok := range tokens.Items {
			if tok.Namespace != t.Namespace || tok.Spec.TenantRef.Name != t.Name {
				continue
			}
			secretName := tok.SecretName()
			s := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: tok.Namespace, Name: secretName}, s); err != nil {
				return nil, fmt.Sprintf("Secret %s/%s: %v", tok.Namespace, secretName, err), nil
			}
			if len(s.Data[scimv1alpha1.SecretKeyToken]) == 0 {
				return nil, fmt.Sprintf("Secret %s/%s has no token yet", tok.Namespace, secretName), nil
			}
			info.tokens = append(info.tokens, tokenInfo{name: tok.Name, secret: secretName, token: string(s.Data[scimv1alpha1.SecretKeyToken])})
		}
		infos = append(infos, info)
	}
	return infos, "", nil
}

// printSummary tells the user how to reach each tenant as Entra would, and
// where the local run differs from a cluster (plain http, no Pods).
// mirrorAddr is the example webhook consumer's address, "" when none runs.
func printSummary(w io.Writer, infos []tenantInfo, ingressAddr, mirrorAddr, serverVersion, kubeconfig, logPath string) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "scim-operator is running locally: kube-apiserver, etcd, the operator and the local runtime.")
	firstToken := ""
	for _, info := range infos {
		t := info.tenant
		fmt.Fprintf(w, "\nScimTenant %s/%s is Ready\n", t.Namespace, t.Name)
		field(w, "Tenant URL (Entra's field)", t.Status.TenantURL)
		if c := meta.FindStatusCondition(t.Status.Conditions, scimv1alpha1.ConditionInsecureTenantURL); c != nil && c.Status == metav1.ConditionTrue {
			field(w, "Warning ("+c.Reason+")", c.Message)
		}
		u, err := url.Parse(t.Status.TenantURL)
		if err != nil {
			continue
		}
		local, host := "", ""
		if t.Spec.Ingress != nil {
			local, host = "http://"+ingressAddr+u.Path, u.Host
			field(w, "Local URL", local+"   (through the local ingress, with header Host: "+host+")")
		} else {
			// No Ingress: straight to the server, as from inside the cluster.
			local = "http://" + info.serverAddr + u.Path
			field(w, "Local URL", local+"   (the server itself: the tenant has no Ingress)")
		}
		field(w, "", "Plain http is expected locally: the local ingress does not terminate TLS.")
		if info.logFile != "" {
			field(w, "Server log", info.logFile+"   (no Pods locally: tail -f it where a cluster has kubectl logs deploy/"+info.deployment+")")
		}
		if info.dataDir != "" {
			field(w, "Data (sqlite, retained)", info.dataDir+"   (a plain directory: back it up with sqlite3 .backup, see docs/operations.md)")
		}
		if pg := t.Spec.Postgres(); pg != nil {
			field(w, "Data (postgres)", fmt.Sprintf("%s, URL from Secret %s key %s; %d replicas ready, requests spread over them",
				t.Status.Storage, pg.URLSecretRef.Name, pg.URLSecretRef.Key, t.Status.ReadyReplicas))
		}
		if len(info.tokens) == 0 {
			fmt.Fprintln(w, "  No ScimToken for this tenant: create one to call it.")
			continue
		}
		for _, tok := range info.tokens {
			if firstToken == "" {
				firstToken = tok.name
			}
			field(w, "Secret Token (Entra's field)", tok.token+"   (ScimToken "+tok.name+", Secret "+tok.secret+")")
		}
		tok := info.tokens[0]
		fmt.Fprintln(w, "  Entra's Test Connection (expect HTTP 200 and an empty ListResponse):")
		var b strings.Builder
		b.WriteString("    curl -sS -i")
		if host != "" {
			fmt.Fprintf(&b, " -H 'Host: %s'", host)
		}
		fmt.Fprintf(&b, " -H 'Authorization: Bearer %s'", tok.token)
		fmt.Fprintf(&b, " '%s/Users?filter=userName+eq+%%22%s%%22'", local, uuid.NewString())
		fmt.Fprintln(w, b.String())
	}
	if mirrorAddr != "" {
		fmt.Fprintln(w, "\nDirectory mirror (examples/directory-mirror; the sample ScimWebhook delivers to it):")
		field(w, "Webhook receiver", "http://"+mirrorAddr+"/webhook   (verifies every signature)")
		fmt.Fprintf(w, "  Watch it follow the directory:  watch -n1 'curl -s http://%s/mirror'\n", mirrorAddr)
		fmt.Fprintln(w, "  Delivery status:                kubectl get scimwebhook")
	}
	fmt.Fprintln(w, "\nkubectl against the local control plane:")
	if advice := kubectlAdvice(serverVersion); advice != "" {
		fmt.Fprintln(w, "  "+advice)
	}
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintln(w, "  kubectl get scim")
	if firstToken != "" {
		fmt.Fprintf(w, "  kubectl annotate scimtoken %s scim.operator.dev/rotate=$(date +%%s) --overwrite\n", firstToken)
	}
	fmt.Fprintf(w, "\nLogs: %s. Ctrl-C stops everything.\n", logPath)
}

// field prints one aligned "label: value" line of a tenant's summary.
// An empty label continues the previous field.
func field(w io.Writer, label, value string) {
	if label != "" {
		label += ":"
	}
	fmt.Fprintf(w, "  %-30s %s\n", label, value)
}

// kubectlAdvice says which kubectl matches the control plane: kubectl
// supports one minor version of skew either way and warns beyond it.
func kubectlAdvice(serverVersion string) string {
	v, err := version.ParseGeneric(serverVersion)
	if err != nil {
		return ""
	}
	minor := v.Minor()
	return fmt.Sprintf("The control plane is %s: kubectl v%d.%d to v%d.%d match it (kubectl version --client shows yours; make kubectl builds a matching bin/kubectl). An older or newer one prints a version-skew warning, and the commands here still work.",
		serverVersion, v.Major(), minor-1, v.Major(), minor+1)
}
