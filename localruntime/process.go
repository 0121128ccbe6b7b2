package localruntime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// pod is one server process standing in for one of a Deployment's pods.
type pod struct {
	name      string // <deployment>-<slot>
	slot      int    // its index among the Deployment's replicas
	hash      string // the pod template it runs
	labels    map[string]string
	claims    []string // PVCs it mounts
	addr      string   // 127.0.0.1:<port>
	probePath string
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	startedAt time.Time
	restarts  int
	ready     bool
}

func (p *pod) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// freePort asks the kernel for an unused 127.0.0.1 port. Another process
// could take it before the server binds it; the server then exits and is
// restarted on another port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProcess runs bin with args and env, appending its output to logPath.
// onExit runs once the process has ended.
func startProcess(bin string, args, env []string, dir, logPath string, onExit func(error)) (*exec.Cmd, chan struct{}, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(logFile, "--- %s starting %s %s\n", time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	// Not CommandContext: stopping is SIGTERM then SIGKILL, done by stopProcess.
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logFile, "--- %s exited: %v\n", time.Now().UTC().Format(time.RFC3339), err)
		logFile.Close()
		onExit(err)
		close(exited)
	}()
	return cmd, exited, nil
}

// stopProcess sends SIGTERM to the process group, then SIGKILL after timeout,
// and waits for the process to be reaped.
func stopProcess(cmd *exec.Cmd, exited chan struct{}, timeout time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	// The negative pid signals the group: the server and anything it started.
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
}

// probe is one readiness check: 200 within a second.
func probe(ctx context.Context, addr, path string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
