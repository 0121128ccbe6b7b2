package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
)

const (
	// maxErrorBody is how much of a refusing receiver's body is kept as
	// the last error's message (status endpoint, webhook status).
	maxErrorBody = 256
	// maxDrainBody is how much of any response body is read, so the
	// connection can be reused; a receiver cannot make us read more.
	maxDrainBody = 64 << 10
	userAgent    = "scim-operator-webhook/1"
)

// newTransport returns the HTTP transport of deliveries. Unless
// allowPrivate, its dialer refuses loopback, private, link-local and
// metadata addresses. It never uses an environment proxy: a proxy would
// connect for us and bypass the check.
func newTransport(allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the per-request timeout bounds it
	}
}

func newClient(allowPrivate bool) *http.Client {
	return &http.Client{
		Transport: newTransport(allowPrivate),
		// A redirect is a failure: following it would send signed
		// directory data somewhere nobody configured (and could reach a
		// private address through a public one).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// attemptError is a failed delivery attempt as status reports it.
type attemptError struct {
	Status  int // HTTP status, 0 when no response arrived
	Message string
}

func (e *attemptError) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// message is a request body and its Standard Webhooks id.
type message struct {
	id   string
	body []byte
}

// encode renders the events of one request. A webhook with MaxBatch 1
// gets one event object per request, its webhook-id the event id;
// batching webhooks get a JSON array and an id derived from the event ids,
// the same whenever the same events are sent again.
func encode(c *compiled, batch []eventlog.Event) (message, error) {
	if c.MaxBatch == 1 {
		b, err := json.Marshal(batch[0])
		return message{id: batch[0].ID, body: b}, err
	}
	b, err := json.Marshal(batch)
	if err != nil {
		return message{}, err
	}
	h := sha256.New()
	for _, e := range batch {
		h.Write([]byte(e.ID))
		h.Write([]byte{0})
	}
	return message{id: "batch_" + hex.EncodeToString(h.Sum(nil))[:32], body: b}, nil
}

// sign returns the webhook-signature header: one v1 signature per secret,
// space-separated, as the Standard Webhooks spec allows for rotations.
func sign(c *compiled, m message, at time.Time) (string, error) {
	sigs := make([]string, 0, len(c.signers))
	for _, s := range c.signers {
		sig, err := s.Sign(m.id, at, m.body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// post sends one message; nil means the receiver answered 2xx.
func post(ctx context.Context, client *http.Client, c *compiled, m message, at time.Time) error {
	sig, err := sign(c, m, at)
	if err != nil {
		return &attemptError{Message: "signing: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(m.body))
	if err != nil {
		return &attemptError{Message: "invalid URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, m.id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := client.Do(req)
	if err != nil {
		return &attemptError{Message: describe(err, c.Timeout.D())}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := strings.ToValidUTF8(string(head), string(utf8.RuneError))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &attemptError{Status: resp.StatusCode, Message: msg}
}

// describe turns a transport error into a short message without the URL
// (which can carry credentials in its query).
func describe(err error, timeout time.Duration) string {
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no response within the timeout (%s)", timeout)
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	s := err.Error()
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody]
	}
	return s
}
