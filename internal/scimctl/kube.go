package scimctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// kube connects to the cluster named by the kubeconfig flags, once per run.
type kube struct {
	flags  *genericclioptions.ConfigFlags
	config *rest.Config
	client client.Client
}

func scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(scimv1alpha1.AddToScheme(s))
	return s
}

func (k *kube) connect() (client.Client, error) {
	if k.client != nil {
		return k.client, nil
	}
	cfg, err := k.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	k.config, k.client = cfg, c
	return c, nil
}

// namespace is -n, or the kubeconfig context's namespace.
func (k *kube) namespace() (string, error) {
	ns, _, err := k.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return ns, nil
}

// tenant fetches a ScimTenant and says what to do when it is missing.
func (k *kube) tenant(ctx context.Context, name string) (*scimv1alpha1.ScimTenant, error) {
	c, err := k.connect()
	if err != nil {
		return nil, err
	}
	ns, err := k.namespace()
	if err != nil {
		return nil, err
	}
	t := &scimv1alpha1.ScimTenant{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t); err != nil {
		return nil, notFoundHint(err, "ScimTenant", ns, name)
	}
	return t, nil
}

// notFoundHint turns a NotFound (or a missing CRD) into what to check.
func notFoundHint(err error, kind, ns, name string) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s/%s not found: check the name and the namespace (-n; kubectl get scim -A lists every one)", kind, ns, name)
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the cluster has no %s kind: install scim-operator's CRDs (config/crd) or check --context", kind)
	}
	return fmt.Errorf("getting %s %s/%s: %w", kind, ns, name, err)
}

// tokenFileSecretName is the tenant's token file Secret, which the server
// mounts: a rotated token is served once its hash is in it.
func tokenFileSecretName(tenant string) string { return tenant + "-scim-tokens" }

// tenantTokens are the ScimTokens of a tenant, sorted by name.
func tenantTokens(ctx context.Context, c client.Client, ns, tenant string) ([]scimv1alpha1.ScimToken, error) {
	var list scimv1alpha1.ScimTokenList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing ScimTokens in %s: %w", ns, err)
	}
	var out []scimv1alpha1.ScimToken
	for _, tok := range list.Items {
		if tok.Spec.TenantRef.Name == tenant {
			out = append(out, tok)
		}
	}
	slices.SortFunc(out, func(a, b scimv1alpha1.ScimToken) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// readToken is the plaintext of a ScimToken from its Secret.
func readToken(ctx context.Context, c client.Client, tok *scimv1alpha1.ScimToken) (string, error) {
	name := tok.SecretName()
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: tok.Namespace, Name: name}, s); err != nil {
		return "", fmt.Errorf("reading the token of ScimToken %s from Secret %s: %w", tok.Name, name, err)
	}
	v := string(s.Data[scimv1alpha1.SecretKeyToken])
	if v == "" {
		return "", fmt.Errorf("Secret %s/%s has no token yet: see kubectl describe scimtoken %s", tok.Namespace, name, tok.Name)
	}
	return v, nil
}

// Output formats (-o).
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func addOutputFlag(cmd *cobra.Command, p *string, wide bool) {
	formats := "json|yaml"
	if wide {
		formats = "json|yaml|wide"
	}
	cmd.Flags().StringVarP(p, "output", "o", "", "Output format: "+formats+" (default: a table)")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if wide {
			return []string{outputJSON, outputYAML, outputWide}, cobra.ShellCompDirectiveNoFileComp
		}
		return []string{outputJSON, outputYAML}, cobra.ShellCompDirectiveNoFileComp
	})
}

func checkOutput(format string, wide bool) error {
	switch format {
	case outputTable, outputJSON, outputYAML:
		return nil
	case outputWide:
		if wide {
			return nil
		}
	}
	if wide {
		return usagef("unknown output format %q: use json, yaml or wide", format)
	}
	return usagef("unknown output format %q: use json or yaml", format)
}

// printStructured writes v as JSON or YAML.
func printStructured(w io.Writer, format string, v any) error {
	raw, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	if format == outputYAML {
		if raw, err = yaml.JSONToYAML(raw); err != nil {
			return err
		}
		_, err = w.Write(raw)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", raw)
	return err
}

// firstArg completes only the first positional argument.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, toComplete)
	}
}

// completeNames completes the names of a kind in the namespace of the
// kubeconfig flags (shell completion).
func completeNames(k *kube, list func(ctx context.Context, c client.Client, ns string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		c, err := k.connect()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		ns, err := k.namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names, err := list(cmd.Context(), c, ns)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func tenantNames(ctx context.Context, c client.Client, ns string) ([]string, error) {
	var list scimv1alpha1.ScimTenantList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range list.Items {
		names = append(names, t.Name)
	}
	return names, nil
}

func tokenNames(ctx context.Context, c client.Client, ns string) ([]string, error) {
	var list scimv1alpha1.ScimTokenList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var names []string
	for _, t := range list.Items {
		names = append(names, t.Name)
	}
	return names, nil
}
