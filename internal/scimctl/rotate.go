package scimctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
)

// fieldManager names the plugin in managedFields.
const fieldManager = "kubectl-scim"

type rotateOptions struct {
	Options
	k         *kube
	wait      bool
	timeout   time.Duration
	showToken bool
}

func newRotateCommand(o Options, k *kube) *cobra.Command {
	ro := &rotateOptions{Options: o, k: k}
	cmd := &cobra.Command{
		Use:   "rotate <token>",
		Short: "Rotate a ScimToken now (sets the scim.operator.dev/rotate annotation)",
		Long: `Rotates a ScimToken: the operator issues a new token into the token's Secret and
keeps the previous one working for the grace period, so Entra keeps provisioning
until the new token is pasted. With --wait, waits until the tenant's server is
given the new token (the revision went up and the tenant's token file holds the
new hash). The new token is printed only with --show-token.`,
		Example: `  kubectl scim rotate acme-entra --wait
  kubectl scim rotate acme-entra --wait --show-token | pbcopy`,
		Args:              exactArgs("token"),
		ValidArgsFunction: firstArg(completeNames(k, tokenNames)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ro.showToken && !ro.wait {
				return usagef("--show-token needs --wait: the new token exists only once the operator has issued it")
			}
			if ro.timeout <= 0 {
				return usagef("--timeout must be positive, got %s", ro.timeout)
			}
			return ro.run(cmd.Context(), args[0])
		},
	}
	cmd.Flags().BoolVar(&ro.wait, "wait", false, "Wait until the tenant serves the new token")
	cmd.Flags().DurationVar(&ro.timeout, "timeout", 2*time.Minute, "How long --wait waits")
	cmd.Flags().BoolVar(&ro.showToken, "show-token", false, "Print the new token (for Entra's Secret Token field); needs --wait")
	return cmd
}

func (ro *rotateOptions) run(ctx context.Context, name string) error {
	c, err := ro.k.connect()
	if err != nil {
		return err
	}
	ns, err := ro.k.namespace()
	if err != nil {
		return err
	}
	// The resourceVersion in the patch makes it fail, rather than race,
	// when the token changes between the read and the write, so that before
	// is the revision the annotation rotates. The operator patches status
	// at any time (which also moves resourceVersion): read again and retry.
	tok := &scimv1alpha1.ScimToken{}
	var before int64
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, tok); err != nil {
			return notFoundHint(err, "ScimToken", ns, name)
		}
		if tok.Spec.Revoked {
			return fmt.Errorf("ScimToken %s/%s is revoked: a revoked token is not rotated; set spec.revoked: false first, or create a new ScimToken", ns, name)
		}
		before = tok.Status.Revision
		// A new value each time: the operator rotates once per value.
		value := ro.Now().UTC().Format(time.RFC3339Nano)
		if tok.Annotations[scimv1alpha1.RotateAnnotation] == value {
			value += "-1"
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations":     map[string]string{scimv1alpha1.RotateAnnotation: value},
			"resourceVersion": tok.ResourceVersion,
		}})
		if err := c.Patch(ctx, tok, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner(fieldManager)); err != nil {
			return fmt.Errorf("setting %s on ScimToken %s/%s: %w", scimv1alpha1.RotateAnnotation, ns, name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := ro.Streams.Out
	if !ro.wait {
		fmt.Fprintf(out, "scimtoken/%s rotation requested (revision %d now; kubectl scim rotate %s --wait waits for the new one)\n", name, before, name)
		return nil
	}
	fmt.Fprintf(ro.Streams.ErrOut, "Waiting for the operator to issue revision %d of scimtoken/%s and the tenant to serve it...\n", before+1, name)
	tok, err = ro.waitServed(ctx, c, client.ObjectKey{Namespace: ns, Name: name}, before)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "scimtoken/%s rotated: revision %d, fingerprint %s, served by tenant %s.\n",
		name, tok.Status.Revision, tok.Status.Fingerprint, tok.Spec.TenantRef.Name)
	if tok.Status.PreviousFingerprint != "" && tok.Status.PreviousValidUntil != nil {
		fmt.Fprintf(out, "The previous token %s keeps working until %s: paste the new token (Secret %s, key %s) into Entra's Secret Token field before then.\n",
			tok.Status.PreviousFingerprint, tok.Status.PreviousValidUntil.UTC().Format(time.RFC3339), tok.SecretName(), scimv1alpha1.SecretKeyToken)
	}
	if ro.showToken {
		value, err := readToken(ctx, c, tok)
		if err != nil {
			return err
		}
		if auth.Hash(value) != tok.Status.Hash {
			return fmt.Errorf("Secret %s holds a token that is not revision %d (the operator may be rotating again): run kubectl scim rotate %s --wait again", tok.SecretName(), tok.Status.Revision, name)
		}
		fmt.Fprintln(out, value)
	}
	return nil
}

// waitServed polls until the token's revision is above before, it is Ready,
// and the tenant's token file holds its hash, which is what the server
// loads: from then on the new token is accepted.
func (ro *rotateOptions) waitServed(ctx context.Context, c client.Client, key client.ObjectKey, before int64) (*scimv1alpha1.ScimToken, error) {
	var (
		tok     *scimv1alpha1.ScimToken
		waiting string
	)
	err := wait.PollUntilContextTimeout(ctx, ro.PollInterval, ro.timeout, true, func(ctx context.Context) (bool, error) {
		tok = &scimv1alpha1.ScimToken{}
		if err := c.Get(ctx, key, tok); err != nil {
			if apierrors.IsNotFound(err) {
				return false, notFoundHint(err, "ScimToken", key.Namespace, key.Name)
			}
			// Anything else may pass (an API server restart, the
			// client's rate limit near the deadline): look again, and
			// keep saying what was awaited before.
			if waiting == "" {
				waiting = fmt.Sprintf("reading ScimToken %s: %v", key.Name, err)
			}
			return false, nil
		}
		if tok.Status.Revision <= before {
			waiting = fmt.Sprintf("the operator has not issued a new token yet (revision %d): is the operator running? kubectl describe scimtoken %s", tok.Status.Revision, key.Name)
			return false, nil
		}
		cond := meta.FindStatusCondition(tok.Status.Conditions, scimv1alpha1.ConditionReady)
		if cond == nil || cond.Status != "True" {
			waiting = "revision " + fmt.Sprint(tok.Status.Revision) + " is issued but the token is not Ready"
			if cond != nil {
				waiting += " (" + cond.Reason + ": " + cond.Message + ")"
			}
			return false, nil
		}
		served, err := tokenFileHolds(ctx, c, key.Namespace, tok.Spec.TenantRef.Name, tok.Status.Hash)
		if err != nil {
			waiting = err.Error()
			return false, nil
		}
		if !served {
			waiting = fmt.Sprintf("the tenant's token file (Secret %s) does not hold revision %d yet", tokenFileSecretName(tok.Spec.TenantRef.Name), tok.Status.Revision)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || wait.Interrupted(err) {
			return nil, fmt.Errorf("timed out after %s: %s", ro.timeout, waiting)
		}
		return nil, err
	}
	return tok, nil
}

// tokenFileHolds reports whether the tenant's token file lists hash.
func tokenFileHolds(ctx context.Context, c client.Client, ns, tenant, hash string) (bool, error) {
	s := &corev1.Secret{}
	name := tokenFileSecretName(tenant)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return false, fmt.Errorf("reading the tenant's token file Secret %s/%s: %w", ns, name, err)
	}
	f, err := auth.ParseTokenFile(s.Data[auth.TokenFileName])
	if err != nil {
		return false, fmt.Errorf("Secret %s/%s: %w", ns, name, err)
	}
	return slices.ContainsFunc(f.Tokens, func(e auth.TokenEntry) bool { return strings.EqualFold(e.SHA256, hash) }), nil
}
