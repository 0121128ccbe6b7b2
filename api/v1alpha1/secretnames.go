package v1alpha1

// SecretName is the Secret that holds the token's plaintext: spec.secretName,
// or the ScimToken's own name. spec.secretName is immutable, so this is also
// what status.secretName reports once the operator has written it.
func (t *ScimToken) SecretName() string {
	if t.Spec.SecretName != "" {
		return t.Spec.SecretName
	}
	return t.Name
}

// SecretName is the Secret that holds the webhook's signing secret:
// spec.secretName, or the ScimWebhook's own name (immutable, like a token's).
func (w *ScimWebhook) SecretName() string {
	if w.Spec.SecretName != "" {
		return w.Spec.SecretName
	}
	return w.Name
}
