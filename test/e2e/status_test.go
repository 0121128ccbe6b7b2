package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
)

// TestProvisioningVisibleInStatus: requests Entra makes show in the
// ScimTenant's and ScimToken's status (through the operator's poll of the
// real server's GET /v1/status), and in the activity log, read with an
// activity-scope ScimToken, redacted.
func TestProvisioningVisibleInStatus(t *testing.T) {
	t.Parallel()
	apply(t, "status.yaml")
	tn := readyTenant(t, "e2e-status", "e2e-status-entra")
	tok := tn.token(t)
	tn.expect(t, tok, http.MethodPost, "/Users", entraUser("status.user@contoso.com", "Stat", false), http.StatusCreated)
	tn.expect(t, tok, http.MethodPost, "/Users", entraUser("status.user@contoso.com", "Stat", false), http.StatusConflict)
	tn.expect(t, tok, http.MethodGet, "/Users?filter="+eqFilter("userName", "status.user@contoso.com"), nil, http.StatusOK)

	eventually(t, time.Minute, "tenant status from the server", func() string {
		st := &scimv1alpha1.ScimTenant{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "e2e-status"}, st); err != nil {
			return err.Error()
		}
		s := st.Status
		if s.Users == nil || s.Users.Total != 1 || s.Groups == nil || *s.Groups != 0 || s.LastRequestTime == nil || s.LastWriteTime == nil ||
			s.LastClientError == nil || s.LastClientError.Status != http.StatusConflict {
			return fmt.Sprintf("status %+v", s)
		}
		if strings.Contains(s.LastClientError.Detail, "status.user") {
			t.Fatalf("lastClientError keeps the userName: %q", s.LastClientError.Detail)
		}
		return ""
	})
	eventually(t, time.Minute, "token last use", func() string {
		if st := getToken(t, "e2e-status-entra").Status; st.LastUsedTime == nil || st.LastUsedRevision != st.Revision {
			return fmt.Sprintf("token status %+v", st)
		}
		return ""
	})

	// The activity log, through the Service, with the on-call token.
	oncall := &corev1.Secret{}
	eventually(t, time.Minute, "activity token", func() string {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "e2e-status-oncall"}, oncall); err != nil {
			return err.Error()
		}
		return ""
	})
	base, err := rt.ServiceURL(context.Background(), ns, "e2e-status-scim", 80)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Entries []struct {
			Method, Path, ScimType, Detail, Token string
			Status                                int
		} `json:"entries"`
		Next string `json:"next"`
	}
	eventually(t, time.Minute, "activity log", func() string {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/activity?limit=100", nil)
		req.Header.Set("Authorization", "Bearer "+string(oncall.Data[scimv1alpha1.SecretKeyToken]))
		resp, err := httpClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("%d %s", resp.StatusCode, raw)
		}
		if strings.Contains(string(raw), "status.user") || strings.Contains(string(raw), tok) {
			t.Fatalf("the activity log holds personal data or a token: %s", raw)
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return err.Error()
		}
		for _, e := range page.Entries {
			if e.Method == http.MethodPost && e.Status == http.StatusConflict && e.ScimType == "uniqueness" && e.Token == "e2e-status-entra" {
				return ""
			}
		}
		return "no 409 entry in " + string(raw)
	})
	// Entra's token cannot read it.
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/activity", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Entra's token read the activity log: %d", resp.StatusCode)
	}
}
