package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// maxBuckets bounds the per-token buckets. Token names come from the
// operator's token file (a handful per tenant), so the bound is only a
// guard against a file with thousands of names growing memory for ever.
const maxBuckets = 4096

// buckets is one token bucket per token name. Keying by name, not by entry,
// keeps a bucket across token-file reloads and rotations (the current and
// previous token of a ScimToken share one), so a reload cannot refill an
// exhausted bucket; a changed limit is applied to the existing bucket.
type buckets struct {
	tenant *config.RateLimit // default for tokens without their own limit
	max    int

	mu     sync.Mutex
	byName map[string]*rate.Limiter
}

func newBuckets(tenant *config.RateLimit) *buckets {
	return &buckets{tenant: tenant, max: maxBuckets, byName: map[string]*rate.Limiter{}}
}

// limiter returns the bucket of the token e at now, or nil when e has no
// limit (neither its own nor the tenant's).
func (b *buckets) limiter(e *auth.TokenEntry, now time.Time) *rate.Limiter {
	rl := b.tenant
	if e.RateLimit != nil {
		rl = e.RateLimit
	}
	if rl == nil {
		return nil
	}
	limit, burst := rate.Limit(rl.RequestsPerSecond), int(rl.Burst)
	if burst <= 0 {
		burst = int(rl.RequestsPerSecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.byName[e.Name]
	switch {
	case l == nil:
		if len(b.byName) >= b.max {
			for name := range b.byName { // evict any one: the bound is a guard, not a cache policy
				delete(b.byName, name)
				break
			}
		}
		l = rate.NewLimiter(limit, burst)
		b.byName[e.Name] = l
	case l.Limit() != limit || l.Burst() != burst:
		l.SetLimitAt(now, limit)
		l.SetBurstAt(now, burst)
	}
	return l
}

// rateLimit applies the request's token bucket (authenticate has set the
// token). A refused request learns from Retry-After when a token will be
// available; Entra honours it.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := infoFrom(r.Context()).token
		if tok == nil {
			next.ServeHTTP(w, r)
			return
		}
		now := s.now()
		l := s.buckets.limiter(tok, now)
		if l == nil {
			next.ServeHTTP(w, r)
			return
		}
		res := l.ReserveN(now, 1)
		if !res.OK() {
			s.metrics.rateLimited.Inc()
			w.Header().Set("Retry-After", "1")
			writeSCIMError(w, http.StatusTooManyRequests, "", "rate limit exceeded")
			return
		}
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			s.metrics.rateLimited.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			writeSCIMError(w, http.StatusTooManyRequests, "",
				"too many requests with the token "+strconv.Quote(tok.Name)+" (each token has its own budget); retry after the Retry-After delay")
			return
		}
		next.ServeHTTP(w, r)
	})
}
