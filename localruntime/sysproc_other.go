//go:build !linux

package localruntime

import "syscall"

// sysProcAttr puts the server in its own process group, so stopping kills
// its children too.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
