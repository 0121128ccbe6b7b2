package localruntime

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
		"--metrics-listen-address=:9090",
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
		"--metrics-listen-address=127.0.0.1:0",
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
	// The whole list, not a prefix: an argument appended, dropped or
	// reordered changes the process the local runtime starts.
	if !slices.Equal(got, want) {
		t.Fatalf("RemapArgs:\n got  %q\n want %q", got, want)
	}
}

func TestRemapPathDoesNotMatchSiblings(t *testing.T) {
	mounts := []Mount{{ContainerPath: "/etc/scim/config", HostPath: "/h"}}
	if got := RemapPath("/etc/scim/configuration/x", mounts); got != "/etc/scim/configuration/x" {
		t.Fatalf("sibling directory remapped to %q", got)
	}
}

func TestProjectItemsAndModes(t *testing.T) {
	data := map[string][]byte{"tokens.json": []byte("{}"), "other": []byte("x")}
	all, err := project(data, nil, ptrInt32(0o440))
	if err != nil || len(all) != 2 || all["tokens.json"].Mode != 0o440 {
		t.Fatalf("all keys: %v, %v", all, err)
	}
	one, err := project(data, []corev1.KeyToPath{{Key: "tokens.json", Path: "sub/t.json", Mode: ptrInt32(0o400)}}, nil)
	if err != nil || len(one) != 1 || one["sub/t.json"].Mode != 0o400 {
		t.Fatalf("items: %v, %v", one, err)
	}
	if _, err := project(data, []corev1.KeyToPath{{Key: "missing", Path: "m"}}, nil); err == nil {
		t.Fatal("a missing key was projected")
	}
}

func ptrInt32(v int32) *int32 { return &v }
