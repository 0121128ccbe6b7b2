// Package localruntime plays the kubelet's, the volume controller's, the
// garbage collector's and the ingress controller's part for the operator's
// own tenants, on one machine.
//
// envtest runs a real kube-apiserver but nothing that runs what the operator
// creates. A Runtime watches the Deployments labelled
// app.kubernetes.io/managed-by=scim-operator and, for each one, runs
// spec.replicas pods, each one server process in
// <state>/pods/<namespace>/<deployment>/<slot>, and for each pod:
//
//   - materialises its ConfigMap and Secret volumes under its directory
//     with the kubelet's atomic layout (..<timestamp> directories,
//     a ..data symlink swapped with rename(2), top-level file symlinks), and
//     keeps them in step with the objects, so token rotations reach the
//     running server exactly as they would in a cluster;
//   - keeps PersistentVolumeClaim volumes in <state>/volumes/<ns>/<claim>,
//     beyond the Deployment's life, and marks the claims Bound;
//   - runs the scimserver binary with the container's arguments, remapping
//     in-container paths to the host and the listen address to a free
//     127.0.0.1 port (its own per pod), restarting it with the kubelet's
//     back-off when it dies and replacing every pod when the template
//     changes;
//   - probes /readyz; the Deployment's status counts the pods and the
//     ready ones.
//
// It also deletes the operator's objects whose controlling ScimTenant or
// ScimToken is gone (a minimal garbage collector), and serves every Ingress
// of the operator on one local port, by Host header and path prefix,
// spreading requests round robin across the Service's ready, running pods
// (kube-proxy's part).
//
// It is a test and demo tool: a template change replaces all pods at once
// (Recreate, whatever the strategy), no resource limits, no security
// context, no probes but readiness.
package localruntime
