package server

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-operator/scim-operator/scimserver/schema"
)

// discarded counts writes whose password the server accepted and did not
// store (schema.ResourceType.Discard says why), and says so in the log
// once per process: an admin who sees an identity provider syncing
// passwords learns they go nowhere. The value is never logged.
type discarded struct {
	counter *prometheus.CounterVec
	log     *slog.Logger
	once    sync.Once
}

func newDiscarded(reg prometheus.Registerer, log *slog.Logger) *discarded {
	d := &discarded{
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scim_password_discarded_total",
			Help: "Successful writes (POST, PUT, PATCH) that dropped a password, sent or stored before passwords were discarded, " +
				"by resource type: the directory never keeps a password (the apps it serves authenticate through SSO).",
		}, []string{"resource"}),
		log: log,
	}
	reg.MustRegister(d.counter)
	return d
}

// done counts one successful write that discarded a password (found is
// what schema.ResourceType.Discard returned for its document).
func (d *discarded) done(rt *schema.ResourceType, found bool) {
	if !found {
		return
	}
	d.counter.WithLabelValues(rt.Name).Inc()
	d.once.Do(func() {
		d.log.Info("Password accepted and discarded: this server never stores passwords (the apps it provisions sign in through SSO); "+
			"turn off password sync in the identity provider to stop sending them. Counted in scim_password_discarded_total; logged once.",
			"resourceType", rt.Name)
	})
}
