#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd) from the Go module
# proxy into $ENVTEST_DIR (default bin/k8s/<version>-<os>-<arch>) and prints
# that directory. It skips the build when both binaries are already there and
# answer --version, so a warm machine pays nothing. controller-runtime's envtest
# reads the directory from KUBEBUILDER_ASSETS.
#
#   build.sh kubectl OUT   builds only kubectl, at the same version, into OUT
#                          (make kubectl), and prints OUT.
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
minor=${KUBERNETES_VERSION#*.}; minor=${minor%%.*}
# version_ldflags stamps the release into the binaries (kubectl version, the
# API server's /version), as the release build does.
version_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	version_ldflags+=" -X ${pkg}.gitVersion=v${KUBERNETES_VERSION}"
	version_ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
	version_ldflags+=" -X ${pkg}.gitTreeState=clean"
done

if [ "${1:-}" = kubectl ]; then
	out=${2:?usage: build.sh kubectl OUT}
	case $out in /*) ;; *) out="$OLDPWD/$out" ;; esac
	current=$([ -x "$out" ] && "$out" version --client 2>/dev/null || true)
	if [[ $current != *"Client Version: v${KUBERNETES_VERSION}"* ]]; then
		echo "envtest: building kubectl v${KUBERNETES_VERSION} (about 2 minutes on 2 cores after the control plane, once)" >&2
		go build -trimpath -ldflags "$version_ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl
		mv "$out.tmp" "$out"
	fi
	echo "$out"
	exit 0
fi

if ! have kube-apiserver; then
	echo "envtest: building kube-apiserver v${KUBERNETES_VERSION} (with etcd: 5 to 11 minutes on 2 cores, once)" >&2
	go build -trimpath -ldflags "$version_ldflags" -o "$dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
fi
if ! have etcd; then
	echo "envtest: building etcd (once)" >&2
	go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
	mv "$dir/etcd.tmp" "$dir/etcd"
fi
echo "$dir"
