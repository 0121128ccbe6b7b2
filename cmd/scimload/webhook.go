package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// receiver is the webhook consumer of --webhook: it verifies every
// request's signature (as a real consumer must, so its CPU is part of the
// measurement) and tracks the highest cursor acknowledged.
type receiver struct {
	wh  *standardwebhooks.Webhook
	srv *http.Server
	url string

	mu       sync.Mutex
	seq      int64
	events   int64
	requests int64
	bad      int64
	changed  chan struct{}
}

// startReceiver listens on a free loopback port and writes the webhooks
// file for the spawned server into dir.
func startReceiver(dir string, batch int) (*receiver, string, error) {
	secret, err := webhookconfig.NewSecret()
	if err != nil {
		return nil, "", err
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	r := &receiver{wh: wh, url: "http://" + ln.Addr().String() + "/webhook", changed: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	f := &webhookconfig.File{AllowPrivateNetworks: true, Webhooks: []webhookconfig.Webhook{{
		Name: "scimload", URL: r.url, Secrets: []string{secret}, MaxBatch: batch,
	}}}
	f.Default()
	raw, err := f.Marshal()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "webhooks.json")
	return r, path, os.WriteFile(path, raw, 0o600)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil || r.wh.Verify(body, req.Header) != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// Only the cursor matters here: decode seq alone.
	var one struct{ Seq int64 }
	var many []struct{ Seq int64 }
	n, last := int64(1), int64(0)
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &many)
		n = int64(len(many))
		if n > 0 {
			last = many[n-1].Seq
		}
	} else {
		err = json.Unmarshal(body, &one)
		last = one.Seq
	}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if last > r.seq {
		r.seq = last
		close(r.changed)
		r.changed = make(chan struct{})
	}
	r.events += n
	r.requests++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) state() (seq int64, changed <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq, r.changed
}

// head reads the newest cursor of the change feed.
func head(ctx context.Context, hc *http.Client, base, token string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events/head", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var h struct{ Seq int64 }
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		return 0, fmt.Errorf("GET /v1/events/head: %d: %w", res.StatusCode, err)
	}
	return h.Seq, nil
}

// drain reports the lag when the load ended and waits until the receiver
// acknowledged the head, printing how long that took.
func (r *receiver) drain(ctx context.Context, hc *http.Client, root, token string, loadStart time.Time) error {
	end := time.Now()
	h, err := head(ctx, hc, root, token)
	if err != nil {
		return err
	}
	seq, _ := r.state()
	fmt.Printf("\nwebhook: head %d at the end of the load, receiver at %d (lag %d events)\n", h, seq, h-seq)
	for {
		seq, changed := r.state()
		if seq >= h {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook lag still %d at the timeout", h-seq)
		case <-changed:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	total := time.Since(loadStart).Seconds()
	fmt.Printf("webhook: lag 0 %.1f s after the load ended; %d events in %d requests, %.0f events/s over the run, %d bad signatures\n",
		time.Since(end).Seconds(), r.events, r.requests, float64(r.events)/total, r.bad)
	if r.bad > 0 {
		return fmt.Errorf("%d requests failed signature verification", r.bad)
	}
	return nil
}
