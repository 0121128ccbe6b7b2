// Package server is the HTTP layer of the SCIM server: routing, request
// decoding, rendering and the middleware every request passes (request id,
// logs, metrics, auth, rate limit, body limit, timeout).
//
// It is written for Microsoft Entra ID's provisioning client; every quirk it
// tolerates is listed in docs/scimserver.md.
package server

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// Defaults and limits.
const (
	// DefaultMaxBodyBytes leaves room for a big group PATCH (Entra batches
	// member adds) while bounding memory per request.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultRequestTimeout bounds one request's store work and the time
	// its body may take to arrive.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultReadHeaderTimeout bounds the time a client may take to send a
	// request's headers (NewHTTPServer).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultCount is the page size of a list without count.
	DefaultCount = 100
	// MaxCount is the largest page served (advertised as filter.maxResults).
	MaxCount = 1000
)

// Options configures a Server.
type Options struct {
	// Config is the tenant configuration; config.Default() when nil.
	Config *config.Tenant
	// Store persists the resources. Required.
	Store store.Store
	// Keyring authenticates requests. Required.
	Keyring *auth.Keyring
	// Logger receives access, audit and error logs; slog.Default() when nil.
	Logger *slog.Logger
	// Clock is the time source (token expiry, rate limit, latencies);
	// time.Now when nil.
	Clock func() time.Time
	// MaxBodyBytes bounds request bodies; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// RequestTimeout bounds a request; DefaultRequestTimeout when zero,
	// none when negative.
	RequestTimeout time.Duration
	// BodyReadTimeout bounds reading a request body, counted from the
	// moment the handler starts reading it (wall clock: it is a network
	// deadline). A body still arriving then is answered 408 and the
	// connection closed. RequestTimeout (or DefaultRequestTimeout when that
	// is not positive) when zero; none when negative.
	BodyReadTimeout time.Duration
	// Registry receives the server's metrics; a fresh one when nil.
	Registry *prometheus.Registry
	// NewID generates resource ids; random UUIDv4 when nil.
	NewID func() string
}

// Server serves one tenant's SCIM API. It is an http.Handler.
type Server struct {
	cfg      *config.Tenant
	reg      *schema.Registry
	store    store.Store
	keyring  *auth.Keyring
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	timeout  time.Duration
	bodyWait time.Duration
	buckets  *buckets
	promReg  *prometheus.Registry
	metrics  *metrics
	newID    func() string
	basePath string
	extBase  string // from ExternalURL; empty means derive per request
	required []requiredAttr
	unknown  *unknownAttrs
	password *discarded // passwords accepted and never stored
	activity *activity
	countsC  countsCache
	started  time.Time
	handler  http.Handler
	pruned   prometheus.Counter // events pruned from the change log
	// webhooks serves GET /v1/webhooks; set by ServeWebhookStatus.
	webhooks atomic.Pointer[http.Handler]
}

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Keyring == nil {
		return nil, errors.New("server: Store and Keyring are required")
	}
	s := &Server{
		cfg:      o.Config,
		store:    o.Store,
		keyring:  o.Keyring,
		log:      o.Logger,
		now:      o.Clock,
		maxBody:  o.MaxBodyBytes,
		timeout:  o.RequestTimeout,
		bodyWait: o.BodyReadTimeout,
		promReg:  o.Registry,
		newID:    o.NewID,
	}
	if s.cfg == nil {
		s.cfg = config.Default()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.timeout == 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.bodyWait == 0 {
		s.bodyWait = s.timeout
		if s.bodyWait <= 0 {
			s.bodyWait = DefaultRequestTimeout
		}
	}
	if s.promReg == nil {
		s.promReg = prometheus.NewRegistry()
	}
	if s.newID == nil {
		s.newID = newUUID
	}
	reg, err := schema.NewRegistry(s.cfg)
	if err != nil {
		return nil, fmt.Errorf("server: schemas: %w", err)
	}
	s.reg = reg
	s.basePath = s.cfg.ServedBasePath()
	if s.cfg.ExternalURL != "" {
		u, err := url.Parse(s.cfg.ExternalURL)
		if err != nil {
			return nil, fmt.Errorf("server: externalURL: %w", err)
		}
		// The admin may paste the Tenant URL with ?aadOptscim062020; it is
		// not part of resource locations.
		u.RawQuery, u.Fragment = "", ""
		s.extBase = strings.TrimRight(u.String(), "/")
	}
	if s.required, err = compileRequired(reg.ResourceType("User"), s.cfg.RequiredUserAttributes); err != nil {
		return nil, err
	}
	s.buckets = newBuckets(s.cfg.RateLimit)
	s.metrics = newMetrics(s.promReg)
	s.unknown = newUnknownAttrs(s.promReg, s.log)
	s.password = newDiscarded(s.promReg, s.log)
	s.started = s.now()
	s.activity = newActivity(s.cfg.ActivityEntries(), s.cfg.ActivityRetention())
	if err := s.promReg.Register(s.keyring); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("server: registering keyring metrics: %w", err)
		}
	}
	if err := s.registerEventMetrics(); err != nil {
		return nil, err
	}
	s.handler = s.observe(http.HandlerFunc(s.route))
	return s, nil
}

// NewHTTPServer wraps h in the http.Server every listener of the SCIM API
// uses. It bounds what a client can hold without sending anything useful:
// headers must arrive within readHeaderTimeout (DefaultReadHeaderTimeout
// when zero), or the connection is closed without an answer; idle
// keep-alive connections close after DefaultIdleTimeout. Bodies are bounded
// per request by the Server (Options.BodyReadTimeout), so a slow PATCH of
// many members is not cut off by a connection-wide ReadTimeout.
func NewHTTPServer(h http.Handler, readHeaderTimeout time.Duration, errorLog *log.Logger) *http.Server {
	if readHeaderTimeout <= 0 {
		readHeaderTimeout = DefaultReadHeaderTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		ErrorLog:          errorLog,
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Registry is the Prometheus registry the server's metrics live in.
func (s *Server) Registry() *prometheus.Registry { return s.promReg }

// BasePath is the path prefix the SCIM API is served under.
func (s *Server) BasePath() string { return s.basePath }

// route splits operational endpoints (no auth) from the SCIM API.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	ri := infoFrom(r.Context())
	switch r.URL.Path {
	case "/healthz":
		ri.resource = "healthz"
		s.healthz(w, r)
		return
	case "/readyz":
		ri.resource = "readyz"
		s.readyz(w, r)
		return
	case "/metrics":
		ri.resource = "metrics"
		s.serveMetrics(w, r)
		return
	case StatusPath:
		ri.resource = "status"
		s.authenticateScope(statusScope, s.rateLimit(http.HandlerFunc(s.serveStatus))).ServeHTTP(w, r)
		return
	case WebhooksPath:
		ri.resource = "webhooks"
		s.authenticateScope(statusScope, s.rateLimit(http.HandlerFunc(s.serveWebhookStatus))).ServeHTTP(w, r)
		return
	case ActivityPath:
		ri.resource = "activity"
		s.authenticateScope(activityScope, s.rateLimit(http.HandlerFunc(s.serveActivity))).ServeHTTP(w, r)
		return
	case EventsPath, EventsHeadPath:
		ri.resource = "events"
		s.authenticate(s.rateLimit(http.HandlerFunc(s.serveEvents))).ServeHTTP(w, r)
		return
	}
	rest, ok := s.underBase(r.URL.Path)
	if !ok {
		writeSCIMError(w, http.StatusNotFound, "", fmt.Sprintf("no SCIM endpoint at %s; the SCIM API is served under %s", r.URL.Path, s.basePathOrRoot()))
		return
	}
	ri.resource = resourceLabel(rest)
	ri.scim = true
	s.scimChain(rest).ServeHTTP(w, r)
}

func (s *Server) basePathOrRoot() string {
	if s.basePath == "" {
		return "/"
	}
	return s.basePath
}

// underBase strips the base path; ids are never case-folded, but the base
// path is matched exactly too.
func (s *Server) underBase(p string) (string, bool) {
	if s.basePath == "" {
		return p, true
	}
	if p == s.basePath {
		return "", true
	}
	if strings.HasPrefix(p, s.basePath+"/") {
		return p[len(s.basePath):], true
	}
	return "", false
}

// resourceLabel is the bounded metrics label for a path under the base.
func resourceLabel(rest string) string {
	seg := strings.TrimPrefix(rest, "/")
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	switch strings.ToLower(seg) {
	case "users":
		return "Users"
	case "groups":
		return "Groups"
	case "schemas":
		return "Schemas"
	case "resourcetypes":
		return "ResourceTypes"
	case "serviceproviderconfig":
		return "ServiceProviderConfig"
	case ".search":
		return "search"
	case "bulk":
		return "Bulk"
	case "me":
		return "Me"
	}
	return "other"
}

func (s *Server) scimChain(rest string) http.Handler {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.api(w, r, rest) })
	return s.authenticate(s.rateLimit(s.limits(api)))
}

// api dispatches a request under the base path.
func (s *Server) api(w http.ResponseWriter, r *http.Request, rest string) {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	if len(segs) == 0 {
		writeSCIMError(w, http.StatusNotFound, "", "this is the SCIM base URL; use /Users, /Groups, /Schemas, /ResourceTypes or /ServiceProviderConfig")
		return
	}
	if len(segs) > 2 {
		writeSCIMError(w, http.StatusNotFound, "", "no such SCIM endpoint")
		return
	}
	head := segs[0]
	var id string
	if len(segs) == 2 {
		id = segs[1]
	}
	switch strings.ToLower(head) {
	case ".search":
		if id != "" {
			break
		}
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		s.rootSearch(w, r)
		return
	case "users":
		s.resources(w, r, "User", id)
		return
	case "groups":
		s.resources(w, r, "Group", id)
		return
	case "serviceproviderconfig":
		if id != "" {
			break
		}
		if s.onlyGet(w, r) {
			s.serviceProviderConfig(w, r)
		}
		return
	case "resourcetypes":
		if s.onlyGet(w, r) {
			s.resourceTypes(w, r, id)
		}
		return
	case "schemas":
		if s.onlyGet(w, r) {
			s.schemas(w, r, id)
		}
		return
	case "bulk":
		writeSCIMError(w, http.StatusNotImplemented, "", "bulk operations are not supported (ServiceProviderConfig bulk.supported is false)")
		return
	case "me":
		writeSCIMError(w, http.StatusNotImplemented, "", "the /Me endpoint is not supported: tokens authenticate a provisioning client, not a user")
		return
	}
	writeSCIMError(w, http.StatusNotFound, "", "no such SCIM endpoint")
}

func (s *Server) onlyGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	methodNotAllowed(w, http.MethodGet)
	return false
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeSCIMError(w, http.StatusMethodNotAllowed, "", "method not allowed here; allowed: "+allow)
}

// resources dispatches /Users and /Groups.
func (s *Server) resources(w http.ResponseWriter, r *http.Request, kind, id string) {
	rt := s.reg.ResourceType(kind)
	if rt == nil {
		// Groups switched off: reads answer an empty list (Entra's Test
		// Connection probes /Groups and treats 404 as a broken endpoint).
		s.groupsOff(w, r, id)
		return
	}
	switch {
	case id == "":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.list(w, r, rt)
		case http.MethodPost:
			s.create(w, r, rt)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case id == ".search":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, http.MethodPost)
			return
		}
		s.search(w, r, rt)
	default:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			s.get(w, r, rt, id)
		case http.MethodPut:
			s.replace(w, r, rt, id)
		case http.MethodPatch:
			s.patch(w, r, rt, id)
		case http.MethodDelete:
			s.delete(w, r, rt, id)
		default:
			methodNotAllowed(w, "GET, PUT, PATCH, DELETE")
		}
	}
}

const groupsOffDetail = "groups are switched off for this tenant"

func (s *Server) groupsOff(w http.ResponseWriter, r *http.Request, id string) {
	read := (r.Method == http.MethodGet || r.Method == http.MethodHead) && id == ""
	search := r.Method == http.MethodPost && id == ".search"
	if read || search {
		if search {
			// Drain (bounded) so the client sees the answer, not a reset.
			_, _ = io.Copy(io.Discard, r.Body)
		}
		writeJSON(w, http.StatusOK, listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: 1, Resources: []any{}})
		return
	}
	writeSCIMError(w, http.StatusNotFound, "", groupsOffDetail)
}
