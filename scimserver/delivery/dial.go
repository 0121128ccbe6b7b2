package delivery

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// sharedAddressSpace is RFC 6598 carrier-grade NAT space, used by some
// clouds for internal services; net/netip does not call it private.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// RefusedError is a receiver address delivery will not connect to.
type RefusedError struct {
	Address string
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s address (start the operator with --webhook-allow-private-networks to allow it)", e.Address, e.Reason)
}

// forbidden says why ip must not be dialled, or "" when it may.
func forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local (cloud metadata)"
	case ip.IsPrivate(), sharedAddressSpace.Contains(ip):
		return "private"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	return ""
}

// refusePrivate is a net.Dialer Control hook. It runs after name
// resolution, on the address actually being connected to, so a name that
// resolves to a public address when checked and to a private one when
// dialled (DNS rebinding) is still refused.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &RefusedError{Address: address, Reason: "unparsable"}
	}
	if reason := forbidden(ip); reason != "" {
		return &RefusedError{Address: host, Reason: reason}
	}
	return nil
}
