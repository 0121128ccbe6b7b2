// Command kubectl-scim is the kubectl plugin of scim-operator: kubectl finds
// it on PATH and runs it for `kubectl scim ...`. See docs/plugin.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/scim-operator/scim-operator/internal/scimctl"
)

func main() {
	// Ctrl-C ends activity --follow and rotate --wait cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := scimctl.Main(ctx, os.Args[1:], scimctl.Options{
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	})
	stop()
	os.Exit(code)
}
