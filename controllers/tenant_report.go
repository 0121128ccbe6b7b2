package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/controllers/deliverystatus"
)

// The status poller lists every tenant and patches tenant and token status.
//
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtenants/status,verbs=patch
// +kubebuilder:rbac:groups=scim.operator.dev,resources=scimtokens/status,verbs=patch

// Defaults of what the tenant status report turns into.
const (
	// DefaultSyncingThreshold is two of Entra's 40-minute cycles.
	DefaultSyncingThreshold = 80 * time.Minute
	// ClientErrorBurst client errors in the server's window make a Warning
	// event, at most one per ClientErrorEventInterval per tenant.
	ClientErrorBurst         = 10
	ClientErrorEventInterval = 10 * time.Minute
	// maxNamedAttributes are named in the AttributesDropped message.
	maxNamedAttributes = 10
)

// Event reasons of the status poller.
const (
	EventSwitchedToNewToken = "SwitchedToNewToken"
	EventClientErrors       = "ClientErrors"
	EventAttributesDropped  = "AttributesDropped"
)

// TenantStatusPoller connects the generic poller to ScimTenants: it polls
// every tenant's GET /v1/status with the operator's token and writes what
// the server reports into the tenant's and its tokens' status. A report
// that changes nothing costs no write. Times only move forward: a restarted
// replica (empty memory) or another replica's older view never turns them
// back.
type TenantStatusPoller struct {
	Client     client.Client
	ServiceURL ServiceURL
	Recorder   record.EventRecorder
	// Clock decides Syncing and rate-limits events; the poll time when nil.
	Clock clock.PassiveClock

	mu        sync.Mutex
	lastBurst map[string]time.Time      // tenant key → last ClientErrors event
	listed    map[client.ObjectKey]bool // tenants of the last Targets, for metric cleanup
}

// Targets lists every tenant whose operator token exists (the tenant
// controller writes it with the tenant's objects); NoWebhooks marks those
// without ScimWebhooks.
func (p *TenantStatusPoller) Targets(ctx context.Context) (_ []deliverystatus.Target, err error) {
	var tenants scimv1alpha1.ScimTenantList
	if err := p.Client.List(ctx, &tenants); err != nil {
		return nil, err
	}
	resolve := p.ServiceURL
	if resolve == nil {
		resolve = ClusterServiceURL
	}
	out := make([]deliverystatus.Target, 0, len(tenants.Items))
	listed := make(map[client.ObjectKey]bool, len(tenants.Items))
	defer func() {
		if err == nil {
			p.forgetUnlisted(listed)
		}
	}()
	for i := range tenants.Items {
		t := &tenants.Items[i]
		if !t.DeletionTimestamp.IsZero() {
			continue
		}
		listed[client.ObjectKeyFromObject(t)] = true
		s := &corev1.Secret{}
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: operatorTokenSecret(t)}, s); err != nil || !metav1.IsControlledBy(s, t) {
			continue
		}
		url, err := resolve(ctx, t.Namespace, serverName(t), servicePort)
		if err != nil || url == "" {
			continue
		}
		var hooks scimv1alpha1.ScimWebhookList
		if err := p.Client.List(ctx, &hooks, client.InNamespace(t.Namespace), client.MatchingFields{tenantRefIndex: t.Name}); err != nil {
			return nil, err
		}
		out = append(out, deliverystatus.Target{
			Key: client.ObjectKeyFromObject(t).String(), URL: url, Token: string(s.Data[operatorTokenKey]),
			NoWebhooks: len(hooks.Items) == 0,
		})
	}
	return out, nil
}

// forgetUnlisted drops the metrics and rate-limit memory of tenants gone
// since the last round.
func (p *TenantStatusPoller) forgetUnlisted(listed map[client.ObjectKey]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key := range p.listed {
		if !listed[key] {
			forgetTenantReportMetrics(key.Namespace, key.Name)
			delete(p.lastBurst, key.String())
		}
	}
	p.listed = listed
}

// ApplyStatus writes one tenant's report into its status and its tokens'.
// An unreachable server leaves the last report in place; Syncing is still
// recomputed, since time passes either way.
func (p *TenantStatusPoller) ApplyStatus(ctx context.Context, target deliverystatus.Target, rep *deliverystatus.TenantStatus, pollErr error, at time.Time) {
	ns, name, _ := strings.Cut(target.Key, "/")
	t := &scimv1alpha1.ScimTenant{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, t); err != nil {
		return
	}
	now := at
	if p.Clock != nil {
		now = p.Clock.Now()
	}
	before := t.DeepCopy()
	if pollErr == nil {
		applyTenantReport(t, rep)
	}
	setSyncing(t, now, pollErr)
	if pollErr == nil {
		if setAttributesDropped(t, rep) {
			c := meta.FindStatusCondition(t.Status.Conditions, scimv1alpha1.ConditionAttributesDropped)
			p.Recorder.Event(t, corev1.EventTypeWarning, EventAttributesDropped, c.Message)
		}
		p.clientErrorBurst(t, rep, now)
	}
	recordTenantReportMetrics(t)
	if !equality.Semantic.DeepEqual(before.Status, t.Status) {
		if pollErr == nil {
			t.Status.StatusReportedTime = &metav1.Time{Time: at.UTC()}
		}
		_ = client.IgnoreNotFound(p.Client.Status().Patch(ctx, t, client.MergeFrom(before)))
	}
	if pollErr == nil {
		p.applyTokenUse(ctx, t, rep)
	}
}

// applyTenantReport copies counts and moves the request times forward.
func applyTenantReport(t *scimv1alpha1.ScimTenant, rep *deliverystatus.TenantStatus) {
	st := &t.Status
	if u := rep.Users; u != nil {
		st.Users = &scimv1alpha1.UserCounts{Total: u.Active + u.Inactive, Active: u.Active, Inactive: u.Inactive}
	}
	if rep.Groups != nil {
		g := *rep.Groups
		st.Groups = &g
	}
	st.LastRequestTime = later(st.LastRequestTime, rep.LastRequest)
	st.LastWriteTime = later(st.LastWriteTime, rep.LastWrite)
	if e := rep.LastClientError; e != nil && (st.LastClientError == nil || e.Time.After(st.LastClientError.Time.Time)) {
		st.LastClientError = &scimv1alpha1.ClientError{
			Status: int32(e.Status), ScimType: e.ScimType, Detail: truncate(e.Detail, 256), Time: metav1.Time{Time: e.Time.UTC()},
		}
	}
}

// later is the newer of a known time and a reported one.
func later(known *metav1.Time, reported *time.Time) *metav1.Time {
	if reported == nil || reported.IsZero() || (known != nil && !reported.After(known.Time)) {
		return known
	}
	return &metav1.Time{Time: reported.UTC()}
}

func syncingThreshold(t *scimv1alpha1.ScimTenant) time.Duration {
	if d := t.Spec.SyncingThreshold; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return DefaultSyncingThreshold
}

// setSyncing: True while a token was used within the threshold, False
// after, Unknown until the server has reported once.
func setSyncing(t *scimv1alpha1.ScimTenant, now time.Time, pollErr error) {
	st := &t.Status
	threshold := syncingThreshold(t)
	set := func(status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: scimv1alpha1.ConditionSyncing, Status: status, Reason: reason, Message: msg, ObservedGeneration: t.Generation,
		})
	}
	switch last := st.LastRequestTime; {
	case last == nil && st.StatusReportedTime == nil && pollErr != nil:
		set(metav1.ConditionUnknown, scimv1alpha1.ReasonAwaitingReport, truncate(fmt.Sprintf(
			"the operator cannot read the server's status yet (%v); check that the tenant is Ready: kubectl get scimtenant %s", pollErr, t.Name), 1024))
	case last == nil:
		set(metav1.ConditionFalse, scimv1alpha1.ReasonNoRecentRequests,
			"no ScimToken has been used since the server started: paste the Tenant URL and a ScimToken's token into Entra, Test Connection, and start provisioning")
	case now.Sub(last.Time) > threshold:
		set(metav1.ConditionFalse, scimv1alpha1.ReasonNoRecentRequests, fmt.Sprintf(
			"no request since %s (%s ago, threshold %s): check the provisioning job in Entra (it may be paused or quarantined), "+
				"its provisioning logs, and the server's recent answers: kubectl scim activity %s",
			last.UTC().Format(time.RFC3339), now.Sub(last.Time).Truncate(time.Minute), threshold, t.Name))
	default:
		set(metav1.ConditionTrue, scimv1alpha1.ReasonRecentRequests, "last request at "+last.UTC().Format(time.RFC3339))
	}
}

// setAttributesDropped reports attributes the server dropped or refused,
// naming them and how to keep them. It returns true when the condition
// turned True or names new attributes (worth a Warning event).
func setAttributesDropped(t *scimv1alpha1.ScimTenant, rep *deliverystatus.TenantStatus) bool {
	old := meta.FindStatusCondition(t.Status.Conditions, scimv1alpha1.ConditionAttributesDropped)
	var oldMsg string
	if old != nil && old.Status == metav1.ConditionTrue {
		oldMsg = old.Message
	}
	names := make([]string, 0, len(rep.DroppedAttributes)+len(rep.RejectedAttributes))
	for _, a := range append(append([]deliverystatus.UnknownAttr{}, rep.DroppedAttributes...), rep.RejectedAttributes...) {
		names = append(names, fmt.Sprintf("%s %q", a.ResourceType, a.Name))
	}
	sort.Strings(names)
	names = compactStrings(names)
	if len(names) == 0 {
		meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
			Type: scimv1alpha1.ConditionAttributesDropped, Status: metav1.ConditionFalse, Reason: scimv1alpha1.ReasonNoneDropped,
			Message: "every attribute sent is defined by a served schema", ObservedGeneration: t.Generation,
		})
		return false
	}
	shown := names
	if len(shown) > maxNamedAttributes {
		shown = append(shown[:maxNamedAttributes:maxNamedAttributes], fmt.Sprintf("and %d more", len(names)-maxNamedAttributes))
	}
	verb := "dropped"
	if len(rep.DroppedAttributes) == 0 {
		verb = "refused"
	}
	msg := truncate(fmt.Sprintf("the server %s attributes no served schema defines: %s. Declare each in spec.schema.extensions "+
		"(urn, attributes: name and type) so it is stored, or remove its mapping in Entra's attribute mappings; see docs/api.md",
		verb, strings.Join(shown, ", ")), 1024)
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{
		Type: scimv1alpha1.ConditionAttributesDropped, Status: metav1.ConditionTrue, Reason: scimv1alpha1.ReasonUnknownAttributes,
		Message: msg, ObservedGeneration: t.Generation,
	})
	return msg != oldMsg
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// clientErrorBurst emits a Warning event when the server's window holds at
// least ClientErrorBurst client errors, at most once per
// ClientErrorEventInterval per tenant, so a broken sync does not flood the
// event stream.
func (p *TenantStatusPoller) clientErrorBurst(t *scimv1alpha1.ScimTenant, rep *deliverystatus.TenantStatus, now time.Time) {
	w := rep.ClientErrors
	if w.Errors < ClientErrorBurst {
		return
	}
	key := client.ObjectKeyFromObject(t).String()
	p.mu.Lock()
	if p.lastBurst == nil {
		p.lastBurst = map[string]time.Time{}
	}
	last, seen := p.lastBurst[key]
	if seen && now.Sub(last) < ClientErrorEventInterval {
		p.mu.Unlock()
		return
	}
	p.lastBurst[key] = now
	p.mu.Unlock()
	msg := fmt.Sprintf("%d of %d requests in the last %s were answered with a client error", w.Errors, w.Requests, time.Duration(w.WindowSeconds)*time.Second)
	if e := rep.LastClientError; e != nil {
		msg += fmt.Sprintf("; the last: HTTP %d", e.Status)
		if e.ScimType != "" {
			msg += " " + e.ScimType
		}
		if e.Detail != "" {
			msg += ": " + truncate(e.Detail, 200)
		}
	}
	p.Recorder.Event(t, corev1.EventTypeWarning, EventClientErrors, msg+". Entra quarantines a job after repeated failures: read kubectl scim activity "+t.Name+" and Entra's provisioning logs")
}

// applyTokenUse writes when each of the tenant's ScimTokens (current and
// previous revision) was last used, and tells when the client switched to
// a rotated token.
func (p *TenantStatusPoller) applyTokenUse(ctx context.Context, t *scimv1alpha1.ScimTenant, rep *deliverystatus.TenantStatus) {
	var tokens scimv1alpha1.ScimTokenList
	if err := p.Client.List(ctx, &tokens, client.InNamespace(t.Namespace), client.MatchingFields{tenantRefIndex: t.Name}); err != nil {
		return
	}
	for i := range tokens.Items {
		tok := &tokens.Items[i]
		before := tok.DeepCopy()
		switched := applyTokenUse(tok, rep)
		if equality.Semantic.DeepEqual(before.Status, tok.Status) {
			continue
		}
		if err := p.Client.Status().Patch(ctx, tok, client.MergeFrom(before)); err != nil {
			continue
		}
		if switched {
			st := tok.Status
			msg := fmt.Sprintf("the client used the new token (revision %d, fingerprint %s) at %s", st.Revision, st.Fingerprint, st.LastUsedTime.UTC().Format(time.RFC3339))
			if st.PreviousLastUsedTime != nil {
				msg += "; the previous token (" + st.PreviousFingerprint + ") was last used at " + st.PreviousLastUsedTime.UTC().Format(time.RFC3339)
			}
			if st.PreviousValidUntil != nil {
				msg += "; it stays accepted until " + st.PreviousValidUntil.UTC().Format(time.RFC3339) +
					" unless you end its grace early once previousLastUsedTime stops moving (docs/operations.md)"
			}
			p.Recorder.Event(tok, corev1.EventTypeNormal, EventSwitchedToNewToken, msg)
		}
	}
}

// applyTokenUse moves a token's last-use times forward from the report and
// reports whether the current revision was seen used for the first time
// after a rotation. A last use recorded for an older revision moves to
// previousLastUsedTime (the previous revision's) or goes.
func applyTokenUse(tok *scimv1alpha1.ScimToken, rep *deliverystatus.TenantStatus) bool {
	st := &tok.Status
	if st.Revision == 0 {
		return false
	}
	if st.LastUsedRevision != st.Revision {
		if st.LastUsedRevision == st.Revision-1 && st.LastUsedTime != nil {
			st.PreviousLastUsedTime = st.LastUsedTime
		} else if st.LastUsedRevision != 0 || st.LastUsedTime != nil {
			st.PreviousLastUsedTime = nil
		}
		st.LastUsedTime, st.LastUsedRevision = nil, st.Revision
	}
	wasUsed := st.LastUsedTime != nil
	st.LastUsedTime = later(st.LastUsedTime, rep.LastUse(tok.Name, st.Revision))
	if st.Revision > 1 {
		st.PreviousLastUsedTime = later(st.PreviousLastUsedTime, rep.LastUse(tok.Name, st.Revision-1))
	}
	return !wasUsed && st.LastUsedTime != nil && st.Revision > 1 && st.PreviousFingerprint != ""
}
