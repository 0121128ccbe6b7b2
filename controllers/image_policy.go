package controllers

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// ImagePolicy is the operator's allow-list of image repositories for the SCIM
// server. Whoever may edit a ScimTenant chooses spec.image, and the operator
// runs it with its own permissions on any node the tenant selects, so it runs
// only images from repositories the operator's installer allowed.
//
// spec.image is the only image a tenant chooses: podTemplate carries labels,
// annotations, a nodeSelector and tolerations, no container. (Annotations do
// reach mutating webhooks, some of which pick images, such as Istio's
// sidecar.istio.io/proxyImage; those are the webhook's policy to enforce.)
type ImagePolicy struct {
	// allowed holds normalized repositories (docker.io/library/nginx) and
	// prefixes ending in "/" (ghcr.io/acme/) that allow every repository below.
	allowed []string
}

// NewImagePolicy allows the given repositories; none allows only the
// repository of defaultImage, the operator's own server image.
func NewImagePolicy(repositories []string, defaultImage string) (*ImagePolicy, error) {
	p := &ImagePolicy{}
	if len(repositories) == 0 {
		repo, err := imageRepository(defaultImage)
		if err != nil {
			return nil, fmt.Errorf("default SCIM server image: %w", err)
		}
		repositories = []string{repo}
	}
	for _, r := range repositories {
		r = strings.TrimSpace(r)
		switch {
		case r == "":
			continue
		case strings.HasSuffix(r, "/"):
			p.allowed = append(p.allowed, strings.ToLower(r))
		default:
			named, err := reference.ParseNormalizedNamed(r)
			if err != nil || !reference.IsNameOnly(named) {
				return nil, fmt.Errorf("allowed image repository %q: want a repository without tag or digest (ghcr.io/acme/scim) or a prefix ending in / (ghcr.io/acme/)", r)
			}
			p.allowed = append(p.allowed, named.Name())
		}
	}
	return p, nil
}

// imageRepository is the normalized repository of an image reference.
func imageRepository(image string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q is not a valid image reference: %w", image, err)
	}
	return named.Name(), nil
}

// Allowed lists the allowed repositories and prefixes, for messages and logs.
func (p *ImagePolicy) Allowed() []string { return p.allowed }

// notAllowed says why image may not run, or "" when it may.
func (p *ImagePolicy) notAllowed(image string) string {
	repo, err := imageRepository(image)
	if err != nil {
		return "spec.image: " + err.Error()
	}
	for _, a := range p.allowed {
		if repo == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(repo, a)) {
			return ""
		}
	}
	return fmt.Sprintf("image %s (repository %s) is not in the operator's allowed image repositories [%s]: use an image from one of them, or ask the operator's installer to add the repository to --allowed-image-repositories",
		image, repo, strings.Join(p.allowed, ", "))
}
