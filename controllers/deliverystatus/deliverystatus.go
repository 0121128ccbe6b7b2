// Package deliverystatus polls the tenant servers' status documents (bearer
// token with the status scope): GET /v1/status of every tenant, for
// ScimTenant and ScimToken status, and GET /v1/webhooks of tenants with
// webhooks, for ScimWebhook status.
//
// The Poller is generic: the caller says which servers to poll (Targets) and
// what to do with each answer (Apply). Polls run periodically and on demand
// (Trigger), with bounded concurrency, one round at a time, so hundreds of
// tenants cost a steady, small number of connections; a slow or dead server
// costs one worker for at most the request timeout.
package deliverystatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/scim-operator/scim-operator/scimserver/statusdoc"
)

// Path is where a tenant server reports delivery status, outside its SCIM base path.
const Path = statusdoc.WebhooksPath

// Defaults of a Poller.
const (
	DefaultInterval    = 15 * time.Second
	DefaultConcurrency = 8
	DefaultTimeout     = 5 * time.Second
	// MaxReportBytes bounds a report read from a server: 1 MiB is thousands
	// of webhooks; a larger answer is not a report.
	MaxReportBytes = 1 << 20
)

// The delivery report is the server's (package statusdoc); these are the
// names the operator uses for it.
type (
	// Report is the body of GET /v1/webhooks.
	Report = statusdoc.Webhooks
	// Webhook is one webhook's delivery state as the server reports it.
	Webhook = statusdoc.Webhook
)

// Fetch reads one server's delivery report. baseURL is the server's root
// (http://svc.ns.svc:80); token a bearer token with the status scope.
// Errors say what failed and never contain the token.
func Fetch(ctx context.Context, hc *http.Client, baseURL, token string) (*Report, error) {
	var rep Report
	if err := fetchJSON(ctx, hc, baseURL, Path, token, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// FetchStatus reads one server's GET /v1/status, like Fetch.
func FetchStatus(ctx context.Context, hc *http.Client, baseURL, token string) (*TenantStatus, error) {
	var st TenantStatus
	if err := fetchJSON(ctx, hc, baseURL, StatusPath, token, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func fetchJSON(ctx context.Context, hc *http.Client, baseURL, path, token string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(baseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReportBytes+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d: %s", path, resp.StatusCode, prefix(body, 200))
	}
	if len(body) > MaxReportBytes {
		return fmt.Errorf("%s answered more than %d bytes", path, MaxReportBytes)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

func prefix(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// Target is one server to poll.
type Target struct {
	// Key identifies the target for Trigger (the tenant's namespace/name).
	Key string
	// URL is the server's root URL; Token a status-scope bearer token.
	URL, Token string
	// NoWebhooks: the tenant has no webhooks; only GET /v1/status is polled.
	NoWebhooks bool
}

// Poller polls targets periodically and on demand.
type Poller struct {
	// Targets lists the servers to poll this round.
	Targets func(ctx context.Context) ([]Target, error)
	// Apply receives each webhook target's delivery report, or the error
	// that replaced it, and when the poll finished.
	Apply func(ctx context.Context, t Target, rep *Report, err error, at time.Time)
	// ApplyStatus, when set, receives each target's GET /v1/status the same way.
	ApplyStatus func(ctx context.Context, t Target, st *TenantStatus, err error, at time.Time)

	Interval    time.Duration // DefaultInterval when zero
	Concurrency int           // DefaultConcurrency when zero
	// HTTP makes the requests; a client with DefaultTimeout when nil.
	HTTP  *http.Client
	Clock clock.WithTicker // real clock when nil
	Log   logr.Logger

	once    sync.Once
	trigger chan string
}

func (p *Poller) init() {
	p.once.Do(func() {
		p.trigger = make(chan string, 1024)
		if p.Interval <= 0 {
			p.Interval = DefaultInterval
		}
		if p.Concurrency <= 0 {
			p.Concurrency = DefaultConcurrency
		}
		if p.HTTP == nil {
			p.HTTP = &http.Client{Timeout: DefaultTimeout}
		}
		if p.Clock == nil {
			p.Clock = clock.RealClock{}
		}
	})
}

// Trigger asks for the target with this key to be polled soon, without
// waiting for the next period. It never blocks; when many triggers are
// pending, the next round covers them.
func (p *Poller) Trigger(key string) {
	p.init()
	select {
	case p.trigger <- key:
	default:
	}
}

// Start polls until ctx ends (a controller-runtime Runnable).
func (p *Poller) Start(ctx context.Context) error {
	p.init()
	tick := p.Clock.NewTicker(p.Interval)
	defer tick.Stop()
	p.Round(ctx, nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
			p.Round(ctx, nil)
		case key := <-p.trigger:
			keys := map[string]bool{key: true}
			for drained := false; !drained; {
				select {
				case k := <-p.trigger:
					keys[k] = true
				default:
					drained = true
				}
			}
			p.Round(ctx, keys)
		}
	}
}

// NeedLeaderElection: only the leader writes status.
func (p *Poller) NeedLeaderElection() bool { return true }

// Round polls every target (only those in keys, when keys is not nil) with
// at most Concurrency requests in flight, and returns when all are applied.
func (p *Poller) Round(ctx context.Context, keys map[string]bool) {
	p.init()
	targets, err := p.Targets(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			p.Log.Error(err, "listing the servers to poll for status")
		}
		return
	}
	work := make(chan Target)
	var wg sync.WaitGroup
	for range min(p.Concurrency, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				if p.ApplyStatus != nil {
					st, err := FetchStatus(ctx, p.HTTP, t.URL, t.Token)
					p.ApplyStatus(ctx, t, st, err, p.Clock.Now())
				}
				if !t.NoWebhooks {
					rep, err := Fetch(ctx, p.HTTP, t.URL, t.Token)
					p.Apply(ctx, t, rep, err, p.Clock.Now())
				}
			}
		}()
	}
	for _, t := range targets {
		if keys != nil && !keys[t.Key] {
			continue
		}
		select {
		case work <- t:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}
