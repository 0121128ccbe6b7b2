package localruntime

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/examples/directory-mirror/mirror"
)

// MirrorAddress is where make demo and the e2e tests run the example
// consumer; config/samples' ScimWebhook delivers to it.
const MirrorAddress = "127.0.0.1:8490"

// Mirror is the example consumer (examples/directory-mirror) running
// in-process, accepting the signing secrets of every ScimWebhook in the
// cluster, as an application would with the webhook's Secret mounted.
type Mirror struct {
	*mirror.Handler
	Addr string
}

// StartMirror serves the directory mirror on addr until ctx ends.
func StartMirror(ctx context.Context, c client.Reader, addr string) (*Mirror, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &mirror.Handler{Dir: mirror.NewDirectory(), Secrets: webhookSecrets(c)}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Shutdown below
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return &Mirror{Handler: h, Addr: ln.Addr().String()}, nil
}

// webhookSecrets returns the current and previous signing secrets of every
// ScimWebhook, read from their Secrets at most once a second.
func webhookSecrets(c client.Reader) func() []string {
	var mu sync.Mutex
	var cached []string
	var at time.Time
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) < time.Second && cached != nil {
			return cached
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var hooks scimv1alpha1.ScimWebhookList
		if err := c.List(ctx, &hooks); err != nil {
			return cached
		}
		var out []string
		for _, wh := range hooks.Items {
			var s corev1.Secret
			if err := c.Get(ctx, client.ObjectKey{Namespace: wh.Namespace, Name: wh.SecretName()}, &s); err != nil {
				continue
			}
			for _, k := range []string{scimv1alpha1.SecretKeyWebhookSecret, scimv1alpha1.SecretKeyWebhookPrevious} {
				if v := s.Data[k]; len(v) > 0 {
					out = append(out, string(v))
				}
			}
		}
		cached, at = out, time.Now()
		return out
	}
}
