package controllers

import (
	"context"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// Where the webhook file is mounted in the server's container.
const (
	webhooksDir = "/etc/scim/webhooks"
	// operatorTokenName names the operator's status token in the token file.
	operatorTokenName = "scim-operator"
	// operatorTokenKey is the key of the operator's token in its Secret.
	operatorTokenKey = "token"
)

// tenantWebhooks is what a tenant's webhooks add to its objects: the webhook
// file Secret, the operator's status token (its Secret and token file entry),
// and when the file next changes by itself (a grace window ending).
type tenantWebhooks struct {
	objects []client.Object
	entry   *auth.TokenEntry
	next    time.Time
	// mountFile: the server runs with the webhook file.
	mountFile bool
}

// webhookObjects renders the tenant's webhook file and the operator's status
// token. Every tenant gets the token (the operator polls GET /v1/status); a
// tenant without webhooks runs without a webhook file. A webhook file left from
// earlier webhooks is emptied, so no signing secret outlives its webhook
// (owned objects go with the tenant; the operator deletes nothing itself).
func (r *TenantReconciler) webhookObjects(ctx context.Context, t *scimv1alpha1.ScimTenant, now time.Time) (*tenantWebhooks, error) {
	// Every tenant gets the operator's status token: the operator polls
	// GET /v1/status of each tenant, with or without webhooks.
	tokenSecret, entry, err := r.operatorTokenObjects(ctx, t)
	if err != nil {
		return nil, err
	}
	var list scimv1alpha1.ScimWebhookList
	if err := r.Client.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingFields{tenantRefIndex: t.Name}); err != nil {
		return nil, err
	}
	hooks := slices.DeleteFunc(list.Items, func(wh scimv1alpha1.ScimWebhook) bool { return !wh.DeletionTimestamp.IsZero() })
	if len(hooks) == 0 {
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: webhookFileSecret(t)}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return &tenantWebhooks{objects: []client.Object{tokenSecret}, entry: entry}, nil
		}
		if err != nil {
			return nil, err
		}
		empty, err := desiredWebhookFileSecret(t, &webhookconfig.File{})
		return &tenantWebhooks{objects: []client.Object{empty, tokenSecret}, entry: entry}, err
	}
	secrets := map[string]*corev1.Secret{}
	for i := range hooks {
		s := &corev1.Secret{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: hooks[i].SecretName()}, s)
		if err == nil {
			secrets[s.Name] = s
		} else if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	file, next := webhookFile(hooks, secrets, r.WebhookAllowPrivateNetworks, now)
	fileSecret, err := desiredWebhookFileSecret(t, file)
	if err != nil {
		return nil, err
	}
	return &tenantWebhooks{
		objects:   []client.Object{fileSecret, tokenSecret},
		entry:     entry,
		next:      next,
		mountFile: true,
	}, nil
}

// operatorTokenObjects renders the operator's status token: its Secret and
// its token file entry.
func (r *TenantReconciler) operatorTokenObjects(ctx context.Context, t *scimv1alpha1.ScimTenant) (*corev1.Secret, *auth.TokenEntry, error) {
	token, err := r.operatorToken(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	tokenSecret := &corev1.Secret{
		ObjectMeta: objectMeta(t, operatorTokenSecret(t)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{operatorTokenKey: []byte(token)},
	}
	tokenSecret.Labels[LabelComponent] = "operator-token"
	return tokenSecret, &auth.TokenEntry{Name: operatorTokenName, SHA256: auth.Hash(token), Scopes: []string{auth.ScopeStatus}}, nil
}

// operatorToken returns the token in the tenant's operator-token Secret, or
// a new one when there is none yet. It is never shown: only the operator
// reads it, to poll delivery status.
func (r *TenantReconciler) operatorToken(ctx context.Context, t *scimv1alpha1.ScimTenant) (string, error) {
	s := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: operatorTokenSecret(t)}, s)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	if tok := string(s.Data[operatorTokenKey]); err == nil && metav1.IsControlledBy(s, t) && len(tok) >= 32 {
		return tok, nil
	}
	return auth.NewToken()
}

func desiredWebhookFileSecret(t *scimv1alpha1.ScimTenant, file *webhookconfig.File) (*corev1.Secret, error) {
	raw, err := file.Marshal()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: objectMeta(t, webhookFileSecret(t)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{webhookconfig.FileName: raw},
	}, nil
}

// webhookFile computes the tenant's webhook file at now from its webhooks and
// their Secrets (by name): each webhook whose Secret the webhook controls,
// signing with the current secret and, inside its grace window, the previous
// one. It also returns when the file next changes by itself, zero if never.
func webhookFile(hooks []scimv1alpha1.ScimWebhook, secrets map[string]*corev1.Secret, allowPrivate bool, now time.Time) (*webhookconfig.File, time.Time) {
	file := &webhookconfig.File{Webhooks: []webhookconfig.Webhook{}, AllowPrivateNetworks: allowPrivate}
	var next time.Time
	for i := range hooks {
		wh := &hooks[i]
		s := secrets[wh.SecretName()]
		if s == nil || s.Labels[LabelManagedBy] != ManagedByValue || !metav1.IsControlledBy(s, wh) {
			continue // not issued yet, or a user's Secret (SecretConflict)
		}
		current := string(s.Data[scimv1alpha1.SecretKeyWebhookSecret])
		if validSecretHash(current) == "" {
			continue
		}
		signWith := []string{current}
		if prev := string(s.Data[scimv1alpha1.SecretKeyWebhookPrevious]); validSecretHash(prev) != "" {
			until, err := time.Parse(time.RFC3339, s.Annotations[AnnotationPreviousValidUntil])
			if err == nil && now.Before(until) {
				signWith = append(signWith, prev)
				if next.IsZero() || until.Before(next) {
					next = until
				}
			}
		}
		w := webhookconfig.Webhook{
			Name:     wh.Name,
			URL:      wh.Spec.URL,
			Paused:   wh.Spec.Paused,
			Secrets:  signWith,
			MaxBatch: int(max(wh.Spec.MaxBatch, 1)),
			Resume:   wh.Annotations[scimv1alpha1.ResumeAnnotation],
		}
		for _, et := range wh.Spec.EventTypes {
			w.EventTypes = append(w.EventTypes, string(et))
		}
		if d := wh.Spec.MaxRetryDuration; d != nil {
			w.MaxRetryDuration = webhookconfig.Duration(d.Duration)
		}
		if d := wh.Spec.Timeout; d != nil {
			w.Timeout = webhookconfig.Duration(d.Duration)
		}
		one := webhookconfig.File{Webhooks: []webhookconfig.Webhook{w}}
		if one.Default(); one.Validate() != nil {
			continue // the server would refuse the whole file; the webhook's Ready says why
		}
		file.Webhooks = append(file.Webhooks, one.Webhooks[0])
	}
	slices.SortFunc(file.Webhooks, func(a, b webhookconfig.Webhook) int { return strings.Compare(a.Name, b.Name) })
	return file, next
}

// mountWebhookFile gives the server its webhook file: the Secret mounted as a
// whole directory (never subPath, so the kubelet updates it in place and
// rotations reach running pods without a restart) and --webhooks-file.
func mountWebhookFile(t *scimv1alpha1.ScimTenant, dep *appsv1.Deployment) {
	spec := &dep.Spec.Template.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "webhooks", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: webhookFileSecret(t), DefaultMode: ptr.To[int32](0o440)},
	}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != containerName {
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "webhooks", MountPath: webhooksDir, ReadOnly: true})
		c.Args = append(c.Args, "--webhooks-file="+webhooksDir+"/"+webhookconfig.FileName)
	}
}
