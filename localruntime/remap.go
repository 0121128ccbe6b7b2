package localruntime

import (
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Mount maps an in-container directory to a host directory.
type Mount struct {
	ContainerPath string
	HostPath      string
}

// RemapArgs rewrites a container's arguments for a host process: any value
// (a bare argument or the value of --flag=value) under a mount's container
// path is moved to the host path, the longest mount winning, and the value of
// --listen-address becomes listen. --metrics-listen-address becomes a free
// loopback port, since every pod's :9090 would clash on one host. Other
// arguments pass through unchanged.
func RemapArgs(args []string, mounts []Mount, listen string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flag, val, ok := strings.Cut(a, "=")
			if !ok {
				out = append(out, a)
				continue
			}
			switch strings.TrimLeft(flag, "-") {
			case "listen-address":
				out = append(out, flag+"="+listen)
				continue
			case "metrics-listen-address":
				out = append(out, flag+"=127.0.0.1:0")
				continue
			}
			out = append(out, flag+"="+RemapPath(val, mounts))
			continue
		}
		out = append(out, RemapPath(a, mounts))
	}
	return out
}

// RemapPath moves an absolute in-container path to the host, or returns it
// unchanged when no mount holds it.
func RemapPath(p string, mounts []Mount) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	clean := path.Clean(p)
	sorted := append([]Mount(nil), mounts...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i].ContainerPath) > len(sorted[j].ContainerPath) })
	for _, m := range sorted {
		mp := path.Clean(m.ContainerPath)
		if clean == mp {
			return m.HostPath
		}
		prefix := strings.TrimSuffix(mp, "/") + "/"
		if strings.HasPrefix(clean, prefix) {
			return filepath.Join(m.HostPath, filepath.FromSlash(strings.TrimPrefix(clean, prefix)))
		}
	}
	return p
}
