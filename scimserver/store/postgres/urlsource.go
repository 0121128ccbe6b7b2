package postgres

import (
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// urlSource is WithURLSource at work: before each new connection it reads
// the URL again and, when it changed, parses it once.
type urlSource struct {
	read func() (string, error)

	mu   sync.Mutex
	last string         // the URL in use
	cfg  *pgconn.Config // last parsed; nil while it is Open's URL
}

// apply points cc, a copy about to connect, at the current URL's server
// and credentials. Everything else (the schema's search_path, timeouts)
// stays as Open configured it. A nil source changes nothing.
func (u *urlSource) apply(cc *pgx.ConnConfig) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if raw, err := u.read(); err == nil && raw != u.last {
		if parsed, err := pgconn.ParseConfig(raw); err == nil {
			u.last, u.cfg = raw, parsed
		}
	}
	if u.cfg == nil {
		return
	}
	cc.Host, cc.Port, cc.Database = u.cfg.Host, u.cfg.Port, u.cfg.Database
	cc.User, cc.Password = u.cfg.User, u.cfg.Password
	cc.TLSConfig, cc.Fallbacks = u.cfg.TLSConfig, u.cfg.Fallbacks
}
