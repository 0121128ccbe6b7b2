package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/auth"
)

func TestFlagsEnvFallback(t *testing.T) {
	t.Setenv("SCIM_DATABASE", "/data/scim.db")
	t.Setenv("SCIM_TOKEN_FILE", "/etc/scim/tokens")
	t.Setenv("SCIM_REQUEST_TIMEOUT", "5s")
	t.Setenv("SCIM_MAX_BODY_BYTES", "1024")
	o, err := parseFlags([]string{"--listen-address", ":9999", "--max-body-bytes", "2048"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.database != "/data/scim.db" || o.tokenFile != "/etc/scim/tokens" || o.requestTimeout != 5*time.Second {
		t.Fatalf("env fallback: %+v", o)
	}
	if o.listenAddress != ":9999" || o.maxBodyBytes != 2048 {
		t.Fatalf("flags must win over env: %+v", o)
	}
	if o.shutdownTimeout != 30*time.Second || o.logLevel != "info" {
		t.Fatalf("defaults: %+v", o)
	}

	t.Setenv("SCIM_REQUEST_TIMEOUT", "soon")
	if _, err := parseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "SCIM_REQUEST_TIMEOUT") {
		t.Fatalf("bad env accepted: %v", err)
	}
	t.Setenv("SCIM_REQUEST_TIMEOUT", "")
	t.Setenv("SCIM_DATABASE", "")
	if _, err := parseFlags(nil, io.Discard); err == nil {
		t.Fatal("missing --database accepted")
	}
	t.Setenv("SCIM_MAX_BODY_BYTES", "")
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"SCIM_LISTEN_ADDRESS", "SCIM_DATABASE", "SCIM_TOKEN_FILE", "SCIM_CONFIG", "SCIM_EXTERNAL_URL",
		"SCIM_BASE_PATH", "SCIM_MAX_BODY_BYTES", "SCIM_REQUEST_TIMEOUT", "SCIM_SHUTDOWN_TIMEOUT", "SCIM_LOG_LEVEL", "4194304"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// TestGracefulShutdown builds the binary, starts it, begins a slow request
// (its body trickles in), sends SIGTERM and expects the request to
// complete and the process to exit 0.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "scimserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	tokenDir := filepath.Join(dir, "token")
	if err := os.Mkdir(tokenDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const token = "scim_shutdown_test"
	raw, _ := (&auth.TokenFile{Tokens: []auth.TokenEntry{{Name: "entra", SHA256: auth.Hash(token), Scopes: []string{"read", "write"}}}}).Marshal()
	if err := os.WriteFile(filepath.Join(tokenDir, auth.TokenFileName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(dir, "config")
	if err := os.Mkdir(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "tenant.json"), []byte(`{"groups":true,"basePath":"/t/acme/scim/v2"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "--listen-address", "127.0.0.1:0", "--token-file", tokenDir, "--config", cfgDir,
		"--shutdown-timeout", "10s")
	cmd.Env = append(os.Environ(), "SCIM_DATABASE="+filepath.Join(dir, "scim.db"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				logs <- m
			}
		}
		close(logs)
	}()
	var addr string
	for addr == "" {
		select {
		case m, ok := <-logs:
			if !ok {
				t.Fatal("server exited before serving")
			}
			if m["msg"] == "Serving" {
				addr, _ = m["address"].(string)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("server did not start")
		}
	}
	base := "http://" + addr
	if res, err := http.Get(base + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}

	// The request announces its body with Expect: 100-continue, so the
	// server answers "100 Continue" exactly when the handler starts reading
	// the body: the client trace turns that into an explicit "in flight"
	// signal, with no guess at how long the server takes to get there.
	pr, pw := io.Pipe()
	inFlight := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(inFlight) }}
	hr, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", base+"/t/acme/scim/v2/Users", pr)
	hr.Header.Set("Authorization", "Bearer "+token)
	hr.Header.Set("Content-Type", "application/scim+json")
	hr.Header.Set("Expect", "100-continue")
	slow := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := slow.Do(hr)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	select {
	case <-inFlight:
	case r := <-done:
		t.Fatalf("request finished before its body was sent: %d %v %s", r.status, r.err, r.body)
	case <-time.After(20 * time.Second):
		t.Fatal("the handler never started reading the body")
	}
	fmt.Fprint(pw, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "Shutting down: finishing in-flight requests")
	// New connections are refused once shutdown began, while the request
	// above is still in flight (its body is not complete).
	refusedBy := time.Now().Add(10 * time.Second)
	for {
		res, err := (&http.Client{Timeout: time.Second}).Get(base + "/healthz")
		if err != nil {
			break
		}
		res.Body.Close()
		if time.Now().After(refusedBy) {
			t.Fatal("new requests still served 10 s after SIGTERM")
		}
	}
	select {
	case r := <-done:
		t.Fatalf("in-flight request ended before its body was complete: %d %v %s", r.status, r.err, r.body)
	default:
	}
	fmt.Fprint(pw, `"userName":"slow@contoso.com"}`)
	pw.Close()
	select {
	case r := <-done:
		if r.err != nil || r.status != http.StatusCreated || !strings.Contains(r.body, "slow@contoso.com") {
			t.Fatalf("in-flight request: %d %v %s", r.status, r.err, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never completed")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit")
	}
}

func waitLog(t *testing.T, logs <-chan map[string]any, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-logs:
			if !ok {
				t.Fatalf("log %q never written", msg)
			}
			if m["msg"] == msg {
				return
			}
		case <-timeout:
			t.Fatalf("log %q never written", msg)
		}
	}
}
