package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/auth"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// Where the server's files live in its container.
const (
	containerName   = "scimserver"
	httpPort        = 8080
	httpPortName    = "http"
	metricsPort     = 9090
	metricsPortName = "metrics"
	servicePort     = 80
	configDir       = "/etc/scim/config"
	tokensDir       = "/etc/scim/tokens"
	dataDir         = "/var/lib/scim"
	databaseFile    = dataDir + "/scim.db"
	databaseURLDir  = "/etc/scim/db" // storage.postgres: the Secret key, as a file
	databaseURLFile = "url"
	serverBinary    = "/scimserver"
	nonRootUID      = 65532
	scimPathSuffix  = "/scim/v2"
	// entraFlag is appended to the Tenant URL shown to admins: it makes Entra
	// send RFC-compliant PATCH requests (see docs/entra.md). The server accepts
	// both shapes, because on-demand provisioning ignores the flag.
	entraFlag = "?aadOptscim062020"
)

// Ingress settings that let Entra's largest requests through ingress-nginx;
// other controllers ignore them, and spec.ingress.annotations override them.
var defaultIngressAnnotations = map[string]string{
	"nginx.ingress.kubernetes.io/proxy-body-size":    "4m",
	"nginx.ingress.kubernetes.io/proxy-read-timeout": "60",
	"nginx.ingress.kubernetes.io/proxy-send-timeout": "60",
}

// tenantPath is the URL path prefix of the tenant: spec.ingress.path, or
// /<namespace>/<name> so that tenants can share one host.
func tenantPath(t *scimv1alpha1.ScimTenant) string {
	if t.Spec.Ingress != nil && t.Spec.Ingress.Path != "" {
		return strings.TrimSuffix(t.Spec.Ingress.Path, "/")
	}
	return "/" + t.Namespace + "/" + t.Name
}

// basePath is where the server serves the SCIM API.
func basePath(t *scimv1alpha1.ScimTenant) string { return tenantPath(t) + scimPathSuffix }

// externalURL is the tenant's base URL as Entra reaches it: through the
// Ingress when there is one, otherwise through the in-cluster Service.
func externalURL(t *scimv1alpha1.ScimTenant) string {
	if ing := t.Spec.Ingress; ing != nil {
		scheme := "http"
		if ing.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + ing.Host + basePath(t)
	}
	return fmt.Sprintf("http://%s.%s.svc%s", serverName(t), t.Namespace, basePath(t))
}

// tenantURL is the exact string for Entra's Tenant URL field.
func tenantURL(t *scimv1alpha1.ScimTenant) string { return externalURL(t) + entraFlag }

func servesGroups(t *scimv1alpha1.ScimTenant) bool {
	return len(t.Spec.ResourceTypes) == 0 || slices.Contains(t.Spec.ResourceTypes, scimv1alpha1.ResourceTypeGroup)
}

// serverConfig renders the tenant's server configuration file.
func serverConfig(t *scimv1alpha1.ScimTenant) *config.Tenant {
	c := &config.Tenant{
		ExternalURL: externalURL(t),
		BasePath:    basePath(t),
		Groups:      servesGroups(t),
	}
	if s := t.Spec.Schema; s != nil {
		c.RequiredUserAttributes = slices.Clone(s.RequiredUserAttributes)
		if s.UnknownAttributes == scimv1alpha1.UnknownAttributesReject {
			c.UnknownAttributes = config.UnknownReject
		}
		for _, e := range s.Extensions {
			ext := config.Extension{URN: e.URN, Name: e.Name, Description: e.Description}
			for _, a := range e.Attributes {
				typ := string(a.Type)
				if typ == "" {
					typ = config.TypeString
				}
				ext.Attributes = append(ext.Attributes, config.Attribute{
					Name: a.Name, Type: typ, MultiValued: a.MultiValued, CaseExact: a.CaseExact,
					Required: a.Required, Description: a.Description,
				})
			}
			c.Extensions = append(c.Extensions, ext)
		}
	}
	c.RateLimit = rateLimit(t.Spec.RateLimit)
	if e := t.Spec.Events; e != nil && e.Retention != nil {
		c.Events.Retention = config.Duration(e.Retention.Duration)
	}
	if a := t.Spec.Activity; a != nil {
		c.Activity.MaxEntries = int(ptr.Deref(a.MaxEntries, 0))
		if a.Retention != nil {
			c.Activity.Retention = config.Duration(a.Retention.Duration)
		}
	}
	return c
}

func objectMeta(t *scimv1alpha1.ScimTenant, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: t.Namespace, Labels: tenantLabels(t)}
}

func desiredServiceAccount(t *scimv1alpha1.ScimTenant) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta: objectMeta(t, serverName(t)),
		// The SCIM server never calls the Kubernetes API.
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func desiredConfigMap(t *scimv1alpha1.ScimTenant) (*corev1.ConfigMap, error) {
	raw, err := json.MarshalIndent(serverConfig(t), "", "  ")
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta(t, configMapName(t)),
		Data:       map[string]string{config.FileName: string(raw)},
	}, nil
}

func desiredTokenFileSecret(t *scimv1alpha1.ScimTenant, file *auth.TokenFile) (*corev1.Secret, error) {
	raw, err := file.Marshal()
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: objectMeta(t, tokenFileSecret(t)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{auth.TokenFileName: raw},
	}, nil
}

// desiredDataClaim is the sqlite volume. With the default Retain policy it has
// no owner reference, so deleting the tenant never deletes provisioned users.
func desiredDataClaim(t *scimv1alpha1.ScimTenant) *corev1.PersistentVolumeClaim {
	sq := t.Spec.SQLite()
	size := resource.MustParse("1Gi")
	if sq.Size != nil {
		size = *sq.Size
	}
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: objectMeta(t, dataClaimName(t)),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: sq.StorageClassName,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: size},
			},
		},
	}
}

// retainsData reports whether the sqlite volume outlives the tenant.
func retainsData(t *scimv1alpha1.ScimTenant) bool {
	sq := t.Spec.SQLite()
	return sq != nil && sq.DeletionPolicy != scimv1alpha1.DeletionPolicyDelete
}

// configHash identifies the configuration the pods must run with.
func configHash(cm *corev1.ConfigMap) string {
	sum := sha256.Sum256([]byte(cm.Data[config.FileName]))
	return hex.EncodeToString(sum[:8])
}

func desiredDeployment(t *scimv1alpha1.ScimTenant, image, cfgHash string) *appsv1.Deployment {
	labels := tenantLabels(t)
	podLabels := maps.Clone(labels)
	podAnnotations := map[string]string{AnnotationConfigHash: cfgHash}
	var nodeSelector map[string]string
	var tolerations []corev1.Toleration
	if pt := t.Spec.PodTemplate; pt != nil {
		// The operator's own labels win: they select the pods.
		podLabels = mergeMaps(pt.Labels, labels)
		podAnnotations = mergeMaps(pt.Annotations, podAnnotations)
		nodeSelector = pt.NodeSelector
		tolerations = pt.Tolerations
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if t.Spec.Postgres() != nil {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
	}
	return &appsv1.Deployment{
		ObjectMeta: objectMeta(t, serverName(t)),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(ptr.Deref(t.Spec.Replicas, 1)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(t)},
			// sqlite has one writer: the old pod must be gone before the new
			// one opens the database file.
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					ServiceAccountName:           serverName(t),
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					NodeSelector:                 nodeSelector,
					Tolerations:                  tolerations,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nonRootUID),
						RunAsGroup:     ptr.To[int64](nonRootUID),
						FSGroup:        ptr.To[int64](nonRootUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					Containers:                    []corev1.Container{serverContainer(t, image)},
					Volumes:                       serverVolumes(t),
					TopologySpreadConstraints:     spreadReplicas(t),
				},
			},
		},
	}
}

func serverContainer(t *scimv1alpha1.ScimTenant, image string) corev1.Container {
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("http"),
			}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if t.Spec.Resources != nil {
		resources = *t.Spec.Resources
	}
	mounts := []corev1.VolumeMount{
		// Whole directories, never subPath: the kubelet updates them in place
		// (atomic symlink swap) and the server reloads rotated tokens.
		{Name: "config", MountPath: configDir, ReadOnly: true},
		{Name: "tokens", MountPath: tokensDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	args := []string{
		"--listen-address=:" + fmt.Sprint(httpPort),
		// Metrics on a port of their own, so the NetworkPolicy can admit
		// scrapers to them and nothing else.
		"--metrics-listen-address=:" + fmt.Sprint(metricsPort),
		"--config=" + configDir + "/" + config.FileName,
		"--token-file=" + tokensDir + "/" + auth.TokenFileName,
	}
	if t.Spec.Postgres() != nil {
		// The URL stays in its Secret, mounted as a file the server reads
		// (never an argument, an environment variable or the ConfigMap).
		mounts = append(mounts, corev1.VolumeMount{Name: "db", MountPath: databaseURLDir, ReadOnly: true})
		args = append(args, "--postgres-url-file="+databaseURLDir+"/"+databaseURLFile, "--postgres-schema="+postgresSchema(t))
	} else {
		mounts = append(mounts, corev1.VolumeMount{Name: "data", MountPath: dataDir})
		args = append(args, "--database="+databaseFile)
	}
	return corev1.Container{
		Name:    containerName,
		Image:   image,
		Command: []string{serverBinary},
		Args:    args,
		Ports: []corev1.ContainerPort{
			{Name: httpPortName, ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
			{Name: metricsPortName, ContainerPort: metricsPort, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe:  probe("/readyz", 5),
		LivenessProbe:   probe("/healthz", 10),
		Resources:       resources,
		VolumeMounts:    mounts,
		SecurityContext: restrictedContainerSecurity(),
	}
}

// restrictedContainerSecurity meets the "restricted" Pod Security Standard.
func restrictedContainerSecurity() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func serverVolumes(t *scimv1alpha1.ScimTenant) []corev1.Volume {
	vols := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(t)},
		}}},
		{Name: "tokens", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: tokenFileSecret(t), DefaultMode: ptr.To[int32](0o440),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr.To(resource.MustParse("64Mi")),
		}}},
	}
	if t.Spec.SQLite() != nil {
		vols = append(vols, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dataClaimName(t)},
		}})
	}
	if pg := t.Spec.Postgres(); pg != nil {
		key := pg.URLSecretRef.Key
		if key == "" {
			key = "url"
		}
		vols = append(vols, corev1.Volume{Name: "db", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  pg.URLSecretRef.Name,
			Items:       []corev1.KeyToPath{{Key: key, Path: databaseURLFile}},
			DefaultMode: ptr.To[int32](0o440),
		}}})
	}
	return vols
}

func desiredService(t *scimv1alpha1.ScimTenant) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(t, serverName(t)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(t),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: servicePort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// desiredIngress routes <host><path>/scim/v2 to the Service; nil without spec.ingress.
func desiredIngress(t *scimv1alpha1.ScimTenant) *networkingv1.Ingress {
	ing := t.Spec.Ingress
	if ing == nil {
		return nil
	}
	obj := &networkingv1.Ingress{
		ObjectMeta: objectMeta(t, serverName(t)),
		Spec: networkingv1.IngressSpec{
			IngressClassName: ing.IngressClassName,
			Rules: []networkingv1.IngressRule{{
				Host: ing.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{
						Path:     basePath(t),
						PathType: ptr.To(networkingv1.PathTypePrefix),
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: serverName(t), Port: networkingv1.ServiceBackendPort{Name: "http"},
						}},
					}},
				}},
			}},
		},
	}
	obj.Annotations = mergeMaps(defaultIngressAnnotations, ing.Annotations)
	if ing.TLS != nil {
		obj.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ing.Host}, SecretName: ing.TLS.SecretName}}
	}
	return obj
}

// mergeMaps returns base overlaid with over (over wins); nil when both are empty.
func mergeMaps(base, over map[string]string) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}
