//go:build tools

// Package envtest pins the control-plane main packages this module builds so
// that go mod tidy keeps their dependencies. kubectl is here for make kubectl:
// a client at the control plane's version (it shares most packages with
// kube-apiserver, so it builds in about 2 minutes once those are built).
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
