package localruntime

import (
	"slices"
	"testing"
)

func TestRemapArgs(t *testing.T) {
	mounts := []Mount{
		{ContainerPath: "/etc/scim/config", HostPath: "/state/pod/config"},
		{ContainerPath: "/etc/scim/tokens", HostPath: "/state/pod/tokens"},
		{ContainerPath: "/etc/scim", HostPath: "/state/pod/etc"},
		{ContainerPath: "/var/lib/scim/", HostPath: "/state/volumes/ns/claim"},
	}
	in := []string{
		"--listen-address=:8080",
		"--config=/etc/scim/config/tenant.json",
		"--token-file=/etc/scim/tokens/tokens.json",
		"--database=/var/lib/scim/scim.db",
		"--other=/etc/scim/x",
		"--log-level=debug",
		"/var/lib/scim",
		"/usr/share/elsewhere",
		"--flag",
		"--base-path=/apps/x/scim/v2/../v2",
	}
	want := []string{
		"--listen-address=127.0.0.1:4321",
		"--config=/state/pod/config/tenant.json",
		"--token-file=/state/pod/tokens/tokens.json",
		"--database=/state/volumes/ns/claim/scim.db",
		"--other=/state/pod/etc/x",
		"--log-level=debug",
		"/state/volumes/ns/claim",
		"/usr/share/elsewhere",
		"--flag",
		"--base-path=/apps/x/scim/v2/../v2",
	}
	got := RemapArgs(in, mounts, "127.0.0.1:4321")
	if !slices.Equal(got, want) {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("arg %d: got %q, want %q", i, got[i], want[i])
			}
		}
	}
}

func TestRemapPathDoesNotMatchSiblings(t *testing.T) {
	mounts := []Mount{{ContainerPath: "/etc/scim/config", HostPath: "/h"}}
	if got := RemapPath("/etc/scim/configuration/x", mounts); got != "/etc/scim/configuration/x" {
		t.Fatalf("sibling directory remapped to %q", got)
	}
}
