package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// writeMounted writes webhooks.json the way the kubelet updates a mounted
// Secret: a new timestamped directory, then an atomic swap of the ..data
// symlink the file's own symlink goes through.
func writeMounted(t *testing.T, dir string, f *webhookconfig.File, gen int) {
	t.Helper()
	raw, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ts := filepath.Join(dir, "..gen"+string(rune('a'+gen)))
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, webhookconfig.FileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, webhookconfig.FileName)
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(filepath.Join("..data", webhookconfig.FileName), link); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchFileFollowsTheMountedSecret: the webhooks file is applied at
// start, re-applied after the kubelet's symlink swap, and an invalid
// version keeps the webhooks last loaded.
func TestWatchFileFollowsTheMountedSecret(t *testing.T) {
	h := newHarness(t, nil, nil, "a")
	rc := newReceiver(t)
	dir := t.TempDir()
	one := &webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{hook("crm", rc.srv.URL)}}
	writeMounted(t, dir, one, 0)
	logs := &syncBuffer{}
	h.m.log = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.m.WatchFile(ctx, filepath.Join(dir, webhookconfig.FileName), time.Second)
	names := func() []string {
		rep, err := h.m.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range rep.Webhooks {
			out = append(out, w.Name)
		}
		return out
	}
	if got := names(); len(got) != 1 || got[0] != "crm" {
		t.Fatalf("after start: %v", got)
	}
	two := &webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{hook("crm", rc.srv.URL), hook("erp", rc.srv.URL)}}
	writeMounted(t, dir, two, 1)
	step := func() { h.clock.Step(time.Second) }
	eventually(t, "second webhook after the swap", func() bool { return len(names()) == 2 }, step)

	bad := &webhookconfig.File{Webhooks: []webhookconfig.Webhook{{Name: "broken", URL: "ftp://x"}}}
	writeMounted(t, dir, bad, 2)
	eventually(t, "the invalid version reported", func() bool {
		return strings.Contains(logs.String(), "Webhooks file invalid")
	}, step)
	if got := names(); len(got) != 2 {
		t.Fatalf("an invalid file changed the webhooks: %v", got)
	}
	writeMounted(t, dir, one, 3)
	eventually(t, "back to one webhook", func() bool { return len(names()) == 1 }, step)
	if got := names(); got[0] != "crm" {
		t.Fatalf("after the invalid version and a valid one: %v", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
