// Package scimctl is the kubectl scim plugin: status, token rotation, Entra's
// Test Connection, users and the activity log of ScimTenants, from kubectl.
// cmd/kubectl-scim only calls Main; everything else lives here so that tests
// run the commands as a user would, flags included.
package scimctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Exit codes, as kubectl's: documented in docs/plugin.md.
const (
	ExitOK    = 0 // the command did what was asked; test-connection: PASS
	ExitError = 1 // the command failed, or test-connection: FAIL
	ExitUsage = 2 // wrong flags or arguments
)

// Options are what a run depends on besides its arguments. Tests replace the
// clock and the poll interval; Main uses the real ones.
type Options struct {
	Streams genericiooptions.IOStreams
	// Now is the clock (rotate annotation values, "ago" columns, --since).
	Now func() time.Time
	// PollInterval is how often rotate --wait and activity --follow look again.
	PollInterval time.Duration
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Streams.Out == nil {
		o.Streams.Out = io.Discard
	}
	if o.Streams.ErrOut == nil {
		o.Streams.ErrOut = io.Discard
	}
	if o.Streams.In == nil {
		o.Streams.In = strings.NewReader("")
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// silentError has already been reported on the output (a FAIL verdict):
// only the exit code is left to set.
type silentError struct{}

func (silentError) Error() string { return "failed" }

// Main runs the plugin with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, o Options) int {
	o.defaults()
	cmd := NewCommand(o)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return ExitError
	}
	fmt.Fprintln(o.Streams.ErrOut, "error:", err)
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(o.Streams.ErrOut, "See '%s --help' for usage.\n", commandPath(cmd, args))
		return ExitUsage
	}
	return ExitError
}

// commandPath names the subcommand args selected, for the usage hint.
func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		c = root
	}
	return strings.Replace(c.CommandPath(), root.Name(), "kubectl scim", 1)
}

// NewCommand builds the command tree.
func NewCommand(o Options) *cobra.Command {
	o.defaults()
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "kubectl-scim",
		Short: "Operate SCIM tenants (scim-operator) from kubectl",
		Long: `kubectl scim shows and operates ScimTenants and ScimTokens of scim-operator:
their status, token rotation, Entra's Test Connection, provisioned users and
the activity log.

Exit codes: 0 success (test-connection: PASS), 1 error (test-connection: FAIL),
2 wrong flags or arguments.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl scim"},
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare "kubectl scim" shows the help, and is not an error.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			return cmd.Help()
		},
		Args: cobra.ArbitraryArgs,
	}
	root.SetIn(o.Streams.In)
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	flags.AddFlags(root.PersistentFlags())

	k := &kube{flags: flags}
	root.AddCommand(
		newStatusCommand(o, k),
		newRotateCommand(o, k),
		newTestConnectionCommand(o, k),
		newUsersCommand(o, k),
		newActivityCommand(o, k),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a usage error (exit 2) naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("expected %d argument(s) (%s), got %d", len(names), strings.Join(names, ", "), len(args))
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a usage error.
func maxArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return usagef("expected at most %d argument(s) (%s), got %d", len(names), strings.Join(names, ", "), len(args))
		}
		return nil
	}
}
