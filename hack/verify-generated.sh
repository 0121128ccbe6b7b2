#!/usr/bin/env bash
# Fails when the committed generated files (deepcopy, CRDs, RBAC, the chart's copies) differ from
# what `make manifests generate` produces from the current sources. It
# regenerates in place, so after a failure the tree holds the fresh files: review
# and commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml charts/scim-operator/crds charts/scim-operator/files)
snapshot=$(mktemp -d)
trap 'rm -rf "$snapshot"' EXIT
for p in "${generated[@]}"; do
	if [ -e "$p" ]; then mkdir -p "$snapshot/$(dirname "$p")"; cp -r "$p" "$snapshot/$p"; fi
done
make -s generate manifests CONTROLLER_GEN="${CONTROLLER_GEN:-bin/controller-gen}" >/dev/null
stale=0
for p in "${generated[@]}"; do
	if ! diff -ru "$snapshot/$p" "$p" >/dev/null 2>&1; then
		echo "stale generated file(s): $p" >&2
		diff -ru "$snapshot/$p" "$p" >&2 || true
		stale=1
	fi
done
if [ "$stale" = 1 ]; then
	echo "generated files were out of date; they are regenerated now: review and commit them" >&2
	exit 1
fi
echo "generated files are up to date"
