#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd) from the Go module
# proxy into $ENVTEST_DIR (default bin/k8s/<version>-<os>-<arch>) and prints
# that directory. It skips the build when both binaries are already there and
# answer --version, so a warm machine pays nothing. controller-runtime's envtest
# reads the directory from KUBEBUILDER_ASSETS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.36.3}
os=$(go env GOOS)
arch=$(go env GOARCH)
dir=${ENVTEST_DIR:-"$root/bin/k8s/${KUBERNETES_VERSION}-${os}-${arch}"}
mkdir -p "$dir"

have() { [ -x "$dir/$1" ] && "$dir/$1" --version >/dev/null 2>&1; }

cd "$here"
if ! have kube-apiserver; then
	echo "envtest: building kube-apiserver v${KUBERNETES_VERSION} (with etcd: 5 to 11 minutes on 2 cores, once)" >&2
	minor=${KUBERNETES_VERSION#*.}; minor=${minor%%.*}
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X ${pkg}.gitVersion=v${KUBERNETES_VERSION}"
		ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
		ldflags+=" -X ${pkg}.gitTreeState=clean"
	done
	go build -trimpath -ldflags "$ldflags" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi
if ! have etcd; then
	echo "envtest: building etcd (once)" >&2
	go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$dir/etcd.tmp" "$dir/etcd"
fi
echo "$dir"
