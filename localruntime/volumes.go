package localruntime

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// materialise brings the first container's mounted volumes to the host,
// under the pod's directory (each pod has its own copy, updated on its own,
// as each node's kubelet does), and returns where each mount path went. waiting says why the pod cannot start
// yet (a missing object or an unbound claim), like ContainerCreating.
func (r *Runtime) materialise(ctx context.Context, dep *appsv1.Deployment, podDir string) (mounts []Mount, waiting string, err error) {
	key := client.ObjectKeyFromObject(dep)
	spec := &dep.Spec.Template.Spec
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range spec.Containers[0].VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, "volume " + m.Name + " is not declared", nil
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			return nil, "", fmt.Errorf("volume mount %s: subPath is not supported by the local runtime", m.Name)
		}
		host, why, err := r.volume(ctx, key, podDir, v)
		if err != nil || why != "" {
			return nil, why, err
		}
		mounts = append(mounts, Mount{ContainerPath: m.MountPath, HostPath: host})
	}
	return mounts, "", nil
}

// volume materialises one volume of a Deployment's pod and returns its
// host directory.
func (r *Runtime) volume(ctx context.Context, key client.ObjectKey, podDir string, v corev1.Volume) (dir, waiting string, err error) {
	switch {
	case v.ConfigMap != nil:
		dir = filepath.Join(podDir, "volumes", v.Name)
		cm := &corev1.ConfigMap{}
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: v.ConfigMap.Name}, cm); err != nil {
			if !apierrors.IsNotFound(err) {
				return "", "", err
			}
			if !ptr.Deref(v.ConfigMap.Optional, false) {
				return "", "ConfigMap " + v.ConfigMap.Name + " not found", nil
			}
		}
		data := map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
		payload, err := project(data, v.ConfigMap.Items, v.ConfigMap.DefaultMode)
		if err != nil {
			return "", "", err
		}
		return dir, "", r.writeVolume(key, v.Name, dir, payload)
	case v.Secret != nil:
		dir = filepath.Join(podDir, "volumes", v.Name)
		s := &corev1.Secret{}
		// Uncached, as a kubelet reads any Secret a pod mounts: the cache
		// holds only the operator's (labelled) Secrets, not a user's
		// database URL Secret (storage.postgres).
		if err := r.reader.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: v.Secret.SecretName}, s); err != nil {
			if !apierrors.IsNotFound(err) {
				return "", "", err
			}
			if !ptr.Deref(v.Secret.Optional, false) {
				return "", "Secret " + v.Secret.SecretName + " not found", nil
			}
		}
		payload, err := project(s.Data, v.Secret.Items, v.Secret.DefaultMode)
		if err != nil {
			return "", "", err
		}
		return dir, "", r.writeVolume(key, v.Name, dir, payload)
	case v.PersistentVolumeClaim != nil:
		claim := v.PersistentVolumeClaim.ClaimName
		pvc := &corev1.PersistentVolumeClaim{}
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: claim}, pvc); err != nil {
			if apierrors.IsNotFound(err) {
				return "", "PersistentVolumeClaim " + claim + " not found", nil
			}
			return "", "", err
		}
		if pvc.Status.Phase != corev1.ClaimBound || !pvc.DeletionTimestamp.IsZero() {
			return "", "PersistentVolumeClaim " + claim + " is not bound", nil
		}
		dir = r.VolumeDir(key.Namespace, claim)
		return dir, "", os.MkdirAll(dir, 0o755)
	case v.EmptyDir != nil:
		dir = filepath.Join(podDir, "empty", v.Name)
		return dir, "", os.MkdirAll(dir, 0o755)
	default:
		return "", "", fmt.Errorf("volume %s: only configMap, secret, persistentVolumeClaim and emptyDir volumes are supported", v.Name)
	}
}

func (r *Runtime) writeVolume(key client.ObjectKey, name, dir string, payload map[string]File) error {
	changed, err := WriteAtomic(dir, payload)
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if changed {
		r.log.V(1).Info("Updated volume", "deployment", key, "volume", name)
	}
	return nil
}

// project applies a volume's items (key to path) and modes, as the kubelet does.
func project(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32) (map[string]File, error) {
	mode := fs.FileMode(ptr.Deref(defaultMode, 0o644))
	out := map[string]File{}
	if len(items) == 0 {
		for k, b := range data {
			out[k] = File{Data: b, Mode: mode}
		}
		return out, nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("key %s not found", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = fs.FileMode(*it.Mode)
		}
		out[it.Path] = File{Data: b, Mode: m}
	}
	return out, nil
}
