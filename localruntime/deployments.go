package localruntime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// reconcileDeployment is the kubelet's and the ReplicaSet controller's
// part for one Deployment: spec.replicas pods, each a server process with
// its own volumes, port and readiness; a process that dies is restarted
// with the kubelet's back-off; the status counts what runs and is ready.
func (r *Runtime) reconcileDeployment(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := r.log.WithValues("deployment", req.NamespacedName)
	dep := &appsv1.Deployment{}
	if err := r.client.Get(ctx, req.NamespacedName, dep); err != nil {
		if apierrors.IsNotFound(err) {
			r.stopPods(req.NamespacedName, 0, "Deployment deleted")
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	replicas := int(ptr.Deref(dep.Spec.Replicas, 1))
	if !dep.DeletionTimestamp.IsZero() || replicas == 0 {
		r.stopPods(req.NamespacedName, 0, "scaled to zero or deleting")
		return reconcile.Result{}, r.writeStatus(ctx, dep, 0, 0)
	}
	if len(dep.Spec.Template.Spec.Containers) == 0 {
		return reconcile.Result{}, nil
	}
	hash := templateHash(&dep.Spec.Template)
	if pods := r.podsOf(req.NamespacedName); len(pods) > 0 && pods[0].hash != hash {
		// Both strategies become Recreate here: sqlite has one writer, and
		// a rolling update adds nothing the tests or the demo look at.
		r.stopPods(req.NamespacedName, 0, "pod template changed")
	}
	// Scaled down: the highest slots go, as the ReplicaSet controller
	// deletes the newest pods first.
	r.stopPods(req.NamespacedName, replicas, "scaled down")

	requeue := probeEvery
	var running []*pod
	for slot := range replicas {
		p := r.podAt(req.NamespacedName, slot)
		dir := r.podDir(req.NamespacedName, slot)
		mounts, waiting, err := r.materialise(ctx, dep, dir)
		if err != nil {
			return reconcile.Result{}, err
		}
		if waiting != "" {
			log.V(1).Info("Waiting for volumes", "reason", waiting, "pod", slot)
			return reconcile.Result{RequeueAfter: volumeRecheck}, r.writeStatus(ctx, dep, 0, 0)
		}
		restarts := 0
		if p != nil && !p.running() {
			// Restart policy Always, with the kubelet's doubling back-off.
			backoff := min(time.Second<<min(p.restarts, 5), maxBackoff)
			if wait := time.Until(p.startedAt.Add(backoff)); wait > 0 {
				requeue = min(requeue, wait)
				running = append(running, p) // the pod exists; its container waits
				continue
			}
			log.Info("Restarting server", "pod", p.name, "exitError", fmt.Sprint(p.exitErr), "restarts", p.restarts+1)
			restarts = p.restarts + 1
			p = nil
		}
		if p == nil {
			if p, err = r.startPod(ctx, dep, slot, hash, mounts, restarts); err != nil {
				return reconcile.Result{}, err
			}
		}
		running = append(running, p)
	}

	ready := r.probeAll(ctx, running)
	if ready < len(running) {
		requeue = min(requeue, probeStarting)
	}
	if err := r.writeStatus(ctx, dep, int32(len(running)), int32(ready)); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// probeAll probes every pod's readiness at once (a probe may take its whole
// second) and returns how many are ready; a pod whose process ended is not.
func (r *Runtime) probeAll(ctx context.Context, pods []*pod) int {
	results := make([]bool, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		if p.running() {
			wg.Go(func() { results[i] = probe(ctx, p.addr, p.probePath) })
		}
	}
	wg.Wait()
	n := 0
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range pods {
		ready := results[i] && p.running()
		if p.ready != ready {
			r.log.Info("Server readiness changed", "pod", p.name, "ready", ready, "address", p.addr)
		}
		p.ready = ready
		if ready {
			n++
		}
	}
	return n
}

// startPod runs the Deployment's first container as a local process, the
// pod in the given slot.
func (r *Runtime) startPod(ctx context.Context, dep *appsv1.Deployment, slot int, hash string, mounts []Mount, restarts int) (*pod, error) {
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
	// On a node each pod's host name is its name, which the server uses
	// as its owner in webhook delivery leases; here every process shares
	// the machine's host name, so replicas would all hold one lease and
	// deliver in parallel. The pod name, as the kubelet would give it.
	name := podName(key.Name, slot)
	env = append(env, "SCIM_DELIVERY_OWNER="+name)
	args := RemapArgs(append(append([]string(nil), c.Command[min(1, len(c.Command)):]...), c.Args...), mounts, addr)
	p := &pod{
		name: name, slot: slot,
		hash: hash, labels: dep.Spec.Template.Labels, addr: addr,
		probePath: defaultProbeOn, startedAt: time.Now(), restarts: restarts,
		claims: claimsOf(&dep.Spec.Template.Spec),
	}
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil && rp.HTTPGet.Path != "" {
		p.probePath = rp.HTTPGet.Path
	}
	dir := r.podDir(key, slot)
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
	pods := r.pods[key]
	for len(pods) <= slot {
		pods = append(pods, nil)
	}
	pods[slot] = p
	r.pods[key] = pods
	r.mu.Unlock()
	r.log.Info("Started server", "deployment", key, "pod", p.name, "address", addr, "pid", p.cmd.Process.Pid, "args", args)
	return p, nil
}

// podName names the pod in a slot: <deployment>-<slot>. Stable, unlike a
// ReplicaSet's random suffixes, so its directory and log are easy to find.
func podName(deployment string, slot int) string { return fmt.Sprintf("%s-%d", deployment, slot) }

// podsOf is a copy of a Deployment's pods, by slot (nil: none in that slot).
func (r *Runtime) podsOf(key client.ObjectKey) []*pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*pod(nil), r.pods[key]...)
}

// podAt is the pod in a slot, or nil.
func (r *Runtime) podAt(key client.ObjectKey, slot int) *pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pods := r.pods[key]; slot < len(pods) {
		return pods[slot]
	}
	return nil
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

// stopPods stops a Deployment's pods in slots from on (0: all) and forgets
// them, in parallel, as a ReplicaSet deletes pods.
func (r *Runtime) stopPods(key client.ObjectKey, from int, reason string) {
	r.mu.Lock()
	pods := r.pods[key]
	if from >= len(pods) {
		r.mu.Unlock()
		return
	}
	gone := pods[from:]
	if from == 0 {
		delete(r.pods, key)
	} else {
		r.pods[key] = pods[:from:from]
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range gone {
		if p == nil {
			continue
		}
		wg.Go(func() {
			r.log.Info("Stopping server", "deployment", key, "pod", p.name, "reason", reason, "pid", p.cmd.Process.Pid)
			stopProcess(p.cmd, p.exited, r.opts.StopTimeout)
			// A new pod gets a fresh emptyDir.
			_ = os.RemoveAll(filepath.Join(r.podDir(key, p.slot), "empty"))
		})
	}
	wg.Wait()
}

// stopAll stops every process, in parallel; called on shutdown.
func (r *Runtime) stopAll() {
	r.mu.Lock()
	keys := make([]client.ObjectKey, 0, len(r.pods))
	for k := range r.pods {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() { r.stopPods(k, 0, "runtime stopping") })
	}
	wg.Wait()
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
