// Command scimserver serves one tenant's SCIM 2.0 API for Microsoft Entra ID
// provisioning. The operator runs one per tenant with the tenant config
// (ConfigMap) and token file (Secret) mounted as directories.
//
// Every flag has an environment variable fallback; see --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
	"github.com/scim-operator/scim-operator/scimserver/delivery"
	"github.com/scim-operator/scim-operator/scimserver/server"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// options are the command line settings.
type options struct {
	listenAddress  string
	metricsAddress string
	database       string
	// PostgreSQL (database.go)
	postgresURLFile      string
	postgresSchema       string
	postgresStartTimeout time.Duration
	tokenFile            string
	configFile           string
	externalURL          string
	basePath             string
	maxBodyBytes         int64
	requestTimeout       time.Duration
	headerTimeout        time.Duration
	shutdownTimeout      time.Duration
	tokenReload          time.Duration
	webhooksFile         string
	deliveryOwner        string
	logLevel             string
}

// flagSet registers flags whose defaults come from environment variables
// when set; the variable name is appended to each usage text.
type flagSet struct {
	fs   *flag.FlagSet
	errs []error
}

func (f *flagSet) env(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

func (f *flagSet) String(p *string, name, env, def, usage string) {
	if v, ok := f.env(env); ok {
		def = v
	}
	f.fs.StringVar(p, name, def, usage+" (env "+env+")")
}

func (f *flagSet) Int64(p *int64, name, env string, def int64, usage string) {
	if v, ok := f.env(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	f.fs.Int64Var(p, name, def, usage+" (env "+env+")")
}

func (f *flagSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := f.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a duration (e.g. 30s)", env, v))
		} else {
			def = d
		}
	}
	f.fs.DurationVar(p, name, def, usage+" (env "+env+")")
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	f := &flagSet{fs: flag.NewFlagSet("scimserver", flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.String(&o.listenAddress, "listen-address", "SCIM_LISTEN_ADDRESS", ":8080", "address to serve HTTP on")
	f.String(&o.metricsAddress, "metrics-listen-address", "SCIM_METRICS_LISTEN_ADDRESS", "", "address to serve /metrics on, apart from the SCIM API (then not on --listen-address), so a NetworkPolicy can admit scrapers to this port only; empty serves /metrics on --listen-address")
	f.String(&o.database, "database", "SCIM_DATABASE", "", "path of the SQLite database file (created if missing), or a postgres:// URL (prefer --postgres-url-file: a flag shows in the process list)")
	f.String(&o.postgresURLFile, "postgres-url-file", "SCIM_POSTGRES_URL_FILE", "", "file holding the PostgreSQL URL, e.g. the uri key of a CloudNativePG <cluster>-app Secret mounted as a file (never logged; read again for every new connection, so rotated credentials need no restart; pool size and timeouts as URL parameters pool_max_conns, connect_timeout; TLS as sslmode says)")
	f.String(&o.postgresSchema, "postgres-schema", "SCIM_POSTGRES_SCHEMA", "", "PostgreSQL schema of this tenant (created if missing; default public), so tenants can share a database")
	f.Duration(&o.postgresStartTimeout, "postgres-start-timeout", "SCIM_POSTGRES_START_TIMEOUT", 2*time.Minute, "how long startup waits for PostgreSQL to answer")
	f.String(&o.tokenFile, "token-file", "SCIM_TOKEN_FILE", "", "token file ("+auth.TokenFileName+"), or the directory the token Secret is mounted at (required)")
	f.String(&o.configFile, "config", "SCIM_CONFIG", "", "tenant config ("+config.FileName+"), or the directory the ConfigMap is mounted at; empty serves the defaults")
	f.String(&o.externalURL, "external-url", "SCIM_EXTERNAL_URL", "", "overrides externalURL of the tenant config: the Tenant URL admins paste into Entra")
	f.String(&o.basePath, "base-path", "SCIM_BASE_PATH", "", "overrides basePath of the tenant config: the path prefix of the SCIM API")
	f.Int64(&o.maxBodyBytes, "max-body-bytes", "SCIM_MAX_BODY_BYTES", server.DefaultMaxBodyBytes, "largest accepted request body in bytes (big group PATCHes need room)")
	f.Duration(&o.requestTimeout, "request-timeout", "SCIM_REQUEST_TIMEOUT", server.DefaultRequestTimeout, "time limit of one request, and of the arrival of its body (408 after it)")
	f.Duration(&o.headerTimeout, "read-header-timeout", "SCIM_READ_HEADER_TIMEOUT", server.DefaultReadHeaderTimeout, "time limit for a request's headers to arrive (the connection is closed after it)")
	f.Duration(&o.shutdownTimeout, "shutdown-timeout", "SCIM_SHUTDOWN_TIMEOUT", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	f.Duration(&o.tokenReload, "token-reload-interval", "SCIM_TOKEN_RELOAD_INTERVAL", auth.DefaultReloadInterval, "how often the token file is re-read")
	f.String(&o.webhooksFile, "webhooks-file", "SCIM_WEBHOOKS_FILE", "", "webhooks file ("+webhookconfig.FileName+", re-read when it changes), or the directory the webhooks Secret is mounted at; empty delivers no webhooks")
	f.String(&o.deliveryOwner, "delivery-owner", "SCIM_DELIVERY_OWNER", "", "name of this replica in webhook delivery leases; the host name (pod name) when empty")
	f.String(&o.logLevel, "log-level", "SCIM_LOG_LEVEL", "info", "debug, info, warn or error")
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: scimserver [flags]\n\n"+
			"Serves one tenant's SCIM 2.0 API (/Users, /Groups, discovery) for Microsoft Entra ID\n"+
			"provisioning, plus /healthz, /readyz and /metrics. Every flag falls back to the\n"+
			"environment variable named in its description.\n\nFlags:\n")
		f.fs.PrintDefaults()
	}
	if err := f.fs.Parse(args); err != nil {
		return nil, err
	}
	if len(f.errs) > 0 {
		return nil, errors.Join(f.errs...)
	}
	if f.fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", f.fs.Args())
	}
	if err := checkDatabase(o); err != nil {
		return nil, err
	}
	if o.tokenFile == "" {
		return nil, errors.New("--token-file (SCIM_TOKEN_FILE) is required")
	}
	return o, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.TrimSpace(s)))
	return l, err
}

// inDir resolves a mounted directory to the file the operator writes in it.
func inDir(path, name string) string {
	if path == "" {
		return ""
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, name)
	}
	return path
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		if err := runMigrate(context.Background(), os.Args[2:], os.Stderr); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(0)
			}
			fmt.Fprintln(os.Stderr, "scimserver migrate:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scimserver:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scimserver:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully: the listener
// closes at once, in-flight requests get shutdownTimeout to finish.
func run(ctx context.Context, o *options, logOut io.Writer) error {
	level, err := parseLevel(o.logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	cfg, err := config.Load(inDir(o.configFile, config.FileName))
	if err != nil {
		return err
	}
	if o.externalURL != "" {
		cfg.ExternalURL = o.externalURL
	}
	if o.basePath != "" {
		cfg.BasePath = o.basePath
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("tenant config: %w", err)
	}

	st, dbLog, err := openStore(ctx, o)
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("Closing the database", "err", err)
		}
	}()

	tokenPath := inDir(o.tokenFile, auth.TokenFileName)
	keyring := auth.NewKeyring(auth.KeyringOptions{Path: tokenPath, Interval: o.tokenReload, Logger: log})
	krCtx, krStop := context.WithCancel(context.Background())
	defer krStop()
	go keyring.Run(krCtx)

	srv, err := server.New(server.Options{
		Config:         cfg,
		Store:          st,
		Keyring:        keyring,
		Logger:         log,
		MaxBodyBytes:   o.maxBodyBytes,
		RequestTimeout: o.requestTimeout,
	})
	if err != nil {
		return err
	}

	var handler http.Handler = srv
	if o.metricsAddress != "" {
		stopMetrics, err := serveMetrics(o.metricsAddress, srv.Registry(), log)
		if err != nil {
			return fmt.Errorf("--metrics-listen-address: %w", err)
		}
		defer func() { _ = stopMetrics(context.Background()) }()
		handler = withoutMetrics(srv)
	}
	pruneCtx, pruneStop := context.WithCancel(context.Background())
	defer pruneStop()
	go srv.RunEventPruner(pruneCtx, server.EventPruneInterval)
	var trim idleTrimmer
	handler = trim.wrap(handler)
	trimTicker := time.NewTicker(idleTrimInterval)
	defer trimTicker.Stop()
	go trim.run(pruneCtx, trimTicker.C)

	// Webhook delivery runs beside the API and never inside a request: a
	// slow receiver delays only its own webhook.
	var deliveryDone chan struct{}
	dlvCtx, dlvStop := context.WithCancel(context.Background())
	defer func() {
		dlvStop()
		if deliveryDone != nil {
			<-deliveryDone // cursors written, leases released
		}
	}()
	if o.webhooksFile != "" {
		state, ok := st.(delivery.State)
		if !ok {
			return fmt.Errorf("--webhooks-file: the %T store keeps no delivery state", st)
		}
		mgr, err := delivery.New(delivery.Options{
			Events:   srv.Events(),
			State:    state,
			Owner:    o.deliveryOwner,
			Logger:   log,
			Registry: srv.Registry(),
		})
		if err != nil {
			return err
		}
		mgr.WatchFile(dlvCtx, inDir(o.webhooksFile, webhookconfig.FileName), o.tokenReload)
		srv.ServeWebhookStatus(mgr)
		deliveryDone = make(chan struct{})
		go func() { mgr.Run(dlvCtx); close(deliveryDone) }()
	}

	ln, err := net.Listen("tcp", o.listenAddress)
	if err != nil {
		return err
	}
	hs := server.NewHTTPServer(handler, o.headerTimeout, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
	log.Info("Serving", append([]any{"address", ln.Addr().String(), "basePath", srv.BasePath(),
		"groups", cfg.Groups, "tokensLoaded", keyring.Len()}, dbLog...)...)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("Shutting down: finishing in-flight requests", "timeout", o.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("Stopped")
	return nil
}
