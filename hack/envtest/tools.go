//go:build tools

// Package envtest pins the control-plane main packages this module builds so
// that go mod tidy keeps their dependencies.
package envtest

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
