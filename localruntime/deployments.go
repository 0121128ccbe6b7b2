package localruntime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	// probeEvery is the readiness period of a ready server; a starting one
	// is probed faster so tests and the demo do not wait.
	probeEvery     = 2 * time.Second
	probeStarting  = 100 * time.Millisecond
	maxBackoff     = 30 * time.Second
	volumeRecheck  = time.Second
	defaultProbeOn = "/readyz"
)

// reconcileDeployment is the kubelet's part for one Deployment: volumes,
// process, readiness, status.
func (r *Runtime) reconcileDeployment(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := r.log.WithValues("deployment", req.NamespacedName)
	dep := &appsv1.Deployment{}
	if err := r.client.Get(ctx, req.NamespacedName, dep); err != nil {
		if apierrors.IsNotFound(err) {
			r.stopPod(req.NamespacedName, "Deployment deleted")
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !dep.DeletionTimestamp.IsZero() || ptr.Deref(dep.Spec.Replicas, 1) == 0 {
		r.stopPod(req.NamespacedName, "scaled to zero or deleting")
		return reconcile.Result{}, r.writeStatus(ctx, dep, 0, 0)
	}
	if len(dep.Spec.Template.Spec.Containers) == 0 {
		return reconcile.Result{}, nil
	}
	hash := templateHash(&dep.Spec.Template)

	r.mu.Lock()
	p := r.pods[req.NamespacedName]
	r.mu.Unlock()
	if p != nil && p.hash != hash {
		// Both strategies become Recreate here: sqlite has one writer.
		r.stopPod(req.NamespacedName, "pod template changed")
		p = nil
	}

	mounts, waiting, err := r.materialise(ctx, dep)
	if err != nil {
		return reconcile.Result{}, err
	}
	if waiting != "" {
		log.V(1).Info("Waiting for volumes", "reason", waiting)
		return reconcile.Result{RequeueAfter: volumeRecheck}, r.writeStatus(ctx, dep, 0, 0)
	}

	if p != nil && !p.running() {
		// Restart policy Always, with the kubelet's doubling back-off.
		backoff := min(time.Second<<min(p.restarts, 5), maxBackoff)
		if wait := time.Until(p.startedAt.Add(backoff)); wait > 0 {
			return reconcile.Result{RequeueAfter: wait}, r.writeStatus(ctx, dep, 1, 0)
		}
		log.Info("Restarting server", "exitError", fmt.Sprint(p.exitErr), "restarts", p.restarts+1)
	}
	if p == nil || !p.running() {
		restarts := 0
		if p != nil {
			restarts = p.restarts + 1
		}
		p, err = r.startPod(ctx, dep, hash, mounts, restarts)
		if err != nil {
			return reconcile.Result{}, err
		}
	}

	ready := probe(ctx, p.addr, p.probePath)
	r.mu.Lock()
	changed := p.ready != ready
	p.ready = ready
	r.mu.Unlock()
	if changed {
		log.Info("Server readiness changed", "ready", ready, "address", p.addr)
	}
	readyN := int32(0)
	if ready {
		readyN = 1
	}
	if err := r.writeStatus(ctx, dep, 1, readyN); err != nil {
		return reconcile.Result{}, err
	}
	if ready {
		return reconcile.Result{RequeueAfter: probeEvery}, nil
	}
	return reconcile.Result{RequeueAfter: probeStarting}, nil
}

// startPod runs the Deployment's first container as a local process.
func (r *Runtime) startPod(ctx context.Context, dep *appsv1.Deployment, hash string, mounts []Mount, restarts int) (*pod, error) {
	key := client.ObjectKeyFromObject(dep)
	c := dep.Spec.Template.Spec.Containers[0]
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	env, err := r.containerEnv(ctx, dep.Namespace, c, mounts)
	if err != nil {
		return nil, err
	}
	args := RemapArgs(append(append([]string(nil), c.Command[min(1, len(c.Command)):]...), c.Args...), mounts, addr)
	p := &pod{
		key: key, hash: hash, labels: dep.Spec.Template.Labels, addr: addr,
		probePath: defaultProbeOn, startedAt: time.Now(), restarts: restarts,
		claims: claimsOf(&dep.Spec.Template.Spec),
	}
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil && rp.HTTPGet.Path != "" {
		p.probePath = rp.HTTPGet.Path
	}
	dir := r.podDir(key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p.cmd, p.exited, err = startProcess(r.opts.ServerBinary, args, env, dir, filepath.Join(dir, "server.log"), func(err error) {
		p.exitErr = err
		// Wake the controller, without blocking if it is gone.
		select {
		case r.exits <- event.TypedGenericEvent[*appsv1.Deployment]{Object: dep}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.pods[key] = p
	r.mu.Unlock()
	r.log.Info("Started server", "deployment", key, "address", addr, "pid", p.cmd.Process.Pid, "args", args)
	return p, nil
}

// containerEnv is the container's environment, resolved: literal values
// (paths remapped) and Secret and ConfigMap key references. Nothing of the
// runtime's own environment leaks in, except TMPDIR pointing at the pod's
// /tmp when it mounts one.
func (r *Runtime) containerEnv(ctx context.Context, ns string, c corev1.Container, mounts []Mount) ([]string, error) {
	env := []string{}
	if tmp := RemapPath("/tmp", mounts); tmp != "/tmp" {
		env = append(env, "TMPDIR="+tmp)
	}
	for _, e := range c.Env {
		val := RemapPath(e.Value, mounts)
		if src := e.ValueFrom; src != nil {
			switch {
			case src.SecretKeyRef != nil:
				s := &corev1.Secret{}
				if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.SecretKeyRef.Name}, s); err != nil {
					if ptr.Deref(src.SecretKeyRef.Optional, false) && apierrors.IsNotFound(err) {
						continue
					}
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				val = string(s.Data[src.SecretKeyRef.Key])
			case src.ConfigMapKeyRef != nil:
				cm := &corev1.ConfigMap{}
				if err := r.reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.ConfigMapKeyRef.Name}, cm); err != nil {
					if ptr.Deref(src.ConfigMapKeyRef.Optional, false) && apierrors.IsNotFound(err) {
						continue
					}
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				val = cm.Data[src.ConfigMapKeyRef.Key]
			default:
				continue // field and resource references mean nothing here
			}
		}
		env = append(env, e.Name+"="+val)
	}
	return env, nil
}

// stopPod stops a Deployment's process, if any, and forgets it.
func (r *Runtime) stopPod(key client.ObjectKey, reason string) {
	r.mu.Lock()
	p := r.pods[key]
	delete(r.pods, key)
	r.mu.Unlock()
	if p == nil {
		return
	}
	r.log.Info("Stopping server", "deployment", key, "reason", reason, "pid", p.cmd.Process.Pid)
	stopProcess(p.cmd, p.exited, r.opts.StopTimeout)
	// A new pod gets a fresh emptyDir.
	_ = os.RemoveAll(filepath.Join(r.podDir(key), "empty"))
}

// stopAll stops every process, in parallel; called on shutdown.
func (r *Runtime) stopAll() {
	r.mu.Lock()
	keys := make([]client.ObjectKey, 0, len(r.pods))
	for k := range r.pods {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	done := make(chan struct{}, len(keys))
	for _, k := range keys {
		go func() { r.stopPod(k, "runtime stopping"); done <- struct{}{} }()
	}
	for range keys {
		<-done
	}
}

// templateHash identifies a pod template: any change restarts the server,
// like a Deployment rolling out a new ReplicaSet.
func templateHash(t *corev1.PodTemplateSpec) string {
	raw, _ := json.Marshal(t)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

func claimsOf(spec *corev1.PodSpec) []string {
	var out []string
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// writeStatus reports replicas running and ready, as the Deployment and
// ReplicaSet controllers would.
func (r *Runtime) writeStatus(ctx context.Context, dep *appsv1.Deployment, running, ready int32) error {
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  dep.Generation,
		Replicas:            running,
		UpdatedReplicas:     running,
		ReadyReplicas:       ready,
		AvailableReplicas:   ready,
		UnavailableReplicas: running - ready,
	}
	cond := appsv1.DeploymentCondition{
		Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse,
		Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability.",
	}
	if ready > 0 || ptr.Deref(dep.Spec.Replicas, 1) == 0 {
		cond.Status, cond.Reason, cond.Message = corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability."
	}
	now := metav1.Now()
	cond.LastUpdateTime, cond.LastTransitionTime = now, now
	for _, old := range dep.Status.Conditions {
		if old.Type == cond.Type && old.Status == cond.Status {
			cond.LastTransitionTime, cond.LastUpdateTime = old.LastTransitionTime, old.LastUpdateTime
		}
	}
	st.Conditions = []appsv1.DeploymentCondition{cond}
	if equality.Semantic.DeepEqual(dep.Status, st) {
		return nil
	}
	patched := dep.DeepCopy()
	patched.Status = st
	err := r.client.Status().Patch(ctx, patched, client.MergeFrom(dep))
	return client.IgnoreNotFound(err)
}
