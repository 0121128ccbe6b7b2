// Package e2e proves the product end to end: the operator's manager against
// a real kube-apiserver and etcd, the SCIM servers it deploys run by the
// local runtime (localruntime/), and Microsoft Entra ID's provisioning
// requests sent through the runtime's ingress port with the tokens the
// operator issued. Tenants and tokens come from the YAML in testdata only.
package e2e
