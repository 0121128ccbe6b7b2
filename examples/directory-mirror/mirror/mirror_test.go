package mirror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

func ev(seq int64, typ, id string, member string) eventlog.Event {
	e := eventlog.Event{Seq: seq, ID: fmt.Sprint("e", seq), Type: typ, ResourceID: id,
		Resource: json.RawMessage(fmt.Sprintf(`{"id":%q,"v":%d}`, id, seq))}
	if member != "" {
		e.Member = &eventlog.Member{Value: member}
	}
	return e
}

func TestApply(t *testing.T) {
	d := NewDirectory()
	for _, e := range []eventlog.Event{
		ev(1, eventlog.UserCreated, "u1", ""),
		ev(2, eventlog.UserCreated, "u2", ""),
		ev(3, eventlog.GroupCreated, "g1", ""),
		ev(4, eventlog.GroupMemberAdded, "g1", "u1"),
		ev(5, eventlog.GroupMemberAdded, "g1", "u2"),
		ev(6, eventlog.UserDeactivated, "u2", ""),
		ev(7, eventlog.GroupMemberRemove, "g1", "u2"),
		ev(8, eventlog.UserDeleted, "u2", ""),
		ev(9, eventlog.GroupUpdated, "g1", ""),
	} {
		if !d.Apply(e) {
			t.Fatalf("event %d not applied", e.Seq)
		}
	}
	if d.Apply(ev(4, eventlog.GroupMemberAdded, "g1", "u2")) {
		t.Fatal("a redelivered event was applied again")
	}
	s := d.Snapshot()
	if s.Seq != 9 || len(s.Users) != 1 || s.Users["u1"] == nil || !slices.Equal(s.Groups["g1"].Members, []string{"u1"}) ||
		string(s.Groups["g1"].Resource) != `{"id":"g1","v":9}` {
		t.Fatalf("snapshot %+v", s)
	}
}

func TestHandlerVerifies(t *testing.T) {
	secret, _ := webhookconfig.NewSecret()
	other, _ := webhookconfig.NewSecret()
	now := time.Now()
	h := &Handler{Dir: NewDirectory(), Secrets: func() []string { return []string{secret} }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	send := func(signWith string, ts time.Time, e eventlog.Event) int {
		body, _ := json.Marshal(e)
		wh, _ := standardwebhooks.NewWebhook(signWith)
		sig, _ := wh.Sign(e.ID, ts, body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", bytes.NewReader(body))
		req.Header.Set("webhook-id", e.ID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		secret string
		ts     time.Time
		want   int
	}{
		{"valid", secret, now, http.StatusNoContent},
		{"wrong secret", other, now, http.StatusUnauthorized},
		{"replayed an hour later", secret, now.Add(-time.Hour), http.StatusUnauthorized},
	} {
		if got := send(tc.secret, tc.ts, ev(int64(len(tc.name)), eventlog.UserCreated, tc.name, "")); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if s := h.Dir.Snapshot(); len(s.Users) != 1 || s.Users["valid"] == nil {
		t.Fatalf("mirror %+v: want only the valid request applied", s)
	}
}
