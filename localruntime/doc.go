// Package localruntime plays the kubelet's, the volume controller's, the
// garbage collector's and the ingress controller's part for the operator's
// own tenants, on one machine.
//
// envtest runs a real kube-apiserver but nothing that runs what the operator
// creates. A Runtime watches the Deployments labelled
// app.kubernetes.io/managed-by=scim-operator and, for each one:
//
//   - materialises the pod's ConfigMap and Secret volumes under a state
//     directory with the kubelet's atomic layout (..<timestamp> directories,
//     a ..data symlink swapped with rename(2), top-level file symlinks), and
//     keeps them in step with the objects, so token rotations reach the
//     running server exactly as they would in a cluster;
//   - keeps PersistentVolumeClaim volumes in <state>/volumes/<ns>/<claim>,
//     beyond the Deployment's life, and marks the claims Bound;
//   - runs the scimserver binary with the container's arguments, remapping
//     in-container paths to the host and the listen address to a free
//     127.0.0.1 port, restarting it when the pod template changes;
//   - probes /readyz and writes the Deployment's status.
//
// It also deletes the operator's objects whose controlling ScimTenant or
// ScimToken is gone (a minimal garbage collector), and serves every Ingress
// of the operator on one local port, by Host header and path prefix.
//
// It is a test and demo tool: one process per Deployment whatever its
// replicas, no resource limits, no security context, no probes but readiness.
package localruntime
