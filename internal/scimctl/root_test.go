package scimctl

import (
	"fmt"
	"strings"
	"testing"
)

// errorf is fmt.Errorf for eventually's checks.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate"}, "expected 1 argument(s) (token), got 0"},
		{[]string{"status", "a", "b"}, "expected at most 1 argument(s) (tenant), got 2"},
		{[]string{"status", "-o", "xml"}, `unknown output format "xml": use json, yaml or wide`},
		{[]string{"test-connection", "acme", "-o", "wide"}, `unknown output format "wide": use json or yaml`},
		{[]string{"status", "acme", "-A"}, "a tenant name and -A cannot be combined"},
		{[]string{"rotate", "tok", "--show-token"}, "--show-token needs --wait"},
		{[]string{"rotate", "tok", "--wait", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"test-connection", "acme", "--url", "ftp://x"}, "is not an http(s) URL"},
		{[]string{"test-connection", "acme", "--host-header", "h"}, "--host-header needs --url"},
		{[]string{"users", "acme", "--chunk-size", "5000"}, "--chunk-size must be between 1 and 1000"},
		{[]string{"activity", "acme", "--since", "-1h"}, "--since must be positive"},
		{[]string{"status", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := kubectlScim(t, tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.errOut, tc.want) || !strings.Contains(r.errOut, "--help' for usage") {
				t.Fatalf("want exit 2 with %q:\n%s", tc.want, r)
			}
		})
	}
}

func TestHelpAndCompletion(t *testing.T) {
	r := kubectlScim(t)
	if r.code != ExitOK || !strings.Contains(r.out, "kubectl scim [command]") || !strings.Contains(r.out, "test-connection") {
		t.Fatalf("bare kubectl scim shows help:\n%s", r)
	}
	r = kubectlScim(t, "completion", "bash")
	if r.code != ExitOK || !strings.Contains(r.out, "bash completion") {
		t.Fatalf("completion bash:\n%s", r)
	}
	// The shell asks the plugin for names: tenants of the namespace.
	ns := namespace(t)
	tenantWithToken(t, ns, "acme")
	r = kubectlScim(t, "__complete", "status", "-n", ns, "")
	if r.code != ExitOK || !strings.HasPrefix(r.out, "acme\n") {
		t.Fatalf("completing a tenant name:\n%s", r)
	}
	r = kubectlScim(t, "__complete", "rotate", "-n", ns, "")
	if r.code != ExitOK || !strings.HasPrefix(r.out, "acme-entra\n") {
		t.Fatalf("completing a token name:\n%s", r)
	}
}
