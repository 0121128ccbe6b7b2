package server

import (
	"net/http"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// WebhooksPath serves the delivery status of the tenant's webhooks (package
// delivery renders it), outside the SCIM base path like the change feed.
// Only tokens with the status scope may read it: the operator polls it
// into ScimWebhook status with its own per-tenant token.
const WebhooksPath = statusdoc.WebhooksPath

// ServeWebhookStatus installs the handler of GET /v1/webhooks (the
// delivery manager, which needs the server's Events and so is built after
// it). Until then the endpoint answers 404.
func (s *Server) ServeWebhookStatus(h http.Handler) { s.webhooks.Store(&h) }

func statusScope(*http.Request) string { return auth.ScopeStatus }

func activityScope(*http.Request) string { return auth.ScopeActivity }

func (s *Server) serveWebhookStatus(w http.ResponseWriter, r *http.Request) {
	h := s.webhooks.Load()
	if h == nil {
		writeSCIMError(w, http.StatusNotFound, "", "this server delivers no webhooks (it was started without --webhooks-file)")
		return
	}
	(*h).ServeHTTP(w, r)
}
