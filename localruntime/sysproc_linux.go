package localruntime

import "syscall"

// sysProcAttr puts the server in its own process group (so stopping kills
// its children too) and has the kernel kill it if the runtime dies without
// cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
