package localruntime

import (
	"context"
	"fmt"
)

// ServiceURL is the root URL of a ready server behind a Service: the local
// runtime plays kube-proxy for the operator, which reaches tenant servers at
// their Service (controllers.ServiceURL) to read webhook delivery status.
// The port is the Service's; the local server listens on its own.
func (r *Runtime) ServiceURL(ctx context.Context, namespace, service string, _ int32) (string, error) {
	addr := r.backend(ctx, namespace, service)
	if addr == "" {
		return "", fmt.Errorf("no ready server behind service %s/%s", namespace, service)
	}
	return "http://" + addr, nil
}
