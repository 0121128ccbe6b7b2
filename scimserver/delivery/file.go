package delivery

import (
	"bytes"
	"context"
	"os"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// DefaultReloadInterval is how often WatchFile re-reads the webhooks file.
// Like the token file (package auth), reading a tiny file every second
// follows the kubelet's ..data symlink swap without a watcher.
const DefaultReloadInterval = time.Second

// WatchFile applies the webhooks file at path now and whenever its content
// changes, until ctx ends. A missing or invalid file is logged (once per
// distinct content) and the webhooks last applied keep running: a bad
// edit must not stop deliveries. It returns after the first read, running
// the watch in the background.
func (m *Manager) WatchFile(ctx context.Context, path string, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	var last []byte
	var lastErr string
	load := func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			// Vanishes for an instant during the ..data swap; a file that
			// stays missing is reported once.
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				m.log.Warn("Webhooks file unreadable; keeping the webhooks last loaded", "path", path, "err", err)
			}
			return
		}
		if last != nil && bytes.Equal(raw, last) {
			return
		}
		last = raw
		f, err := webhookconfig.Parse(raw)
		if err != nil {
			m.log.Error("Webhooks file invalid; keeping the webhooks last loaded", "path", path, "err", err)
			return
		}
		lastErr = ""
		m.Update(f)
		m.log.Info("Webhooks file loaded", "path", path, "webhooks", len(f.Webhooks))
	}
	load()
	go func() {
		for {
			t := m.o.Clock.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
				load()
			}
		}
	}()
}
