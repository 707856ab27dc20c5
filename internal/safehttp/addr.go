package safehttp

import (
	"fmt"
	"net/netip"
	"strings"
)

// blocked lists the ranges no outbound request may reach unless the
// allow-list names them: everything that is not a public unicast address,
// and the platform addresses clouds put inside public-looking space. Each
// comes with the reason a refusal gives.
var blocked = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (this-network) address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (shared) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata service"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	// Azure's platform endpoint (DNS, health probes, the WireServer) sits
	// at a public-looking address that every VM and container reaches.
	{netip.MustParsePrefix("168.63.129.16/32"), "the Azure platform endpoint (WireServer)"},

	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	// Teredo and 6to4 embed an IPv4 address that a relay would reach.
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnel address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 tunnel address"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata service"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local (private) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// nat64 is the well-known NAT64 prefix: its addresses stand for the IPv4
// address in their last four bytes, which is what the check looks at.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// notPublic says why ip is not a public unicast address, or "" when it is.
func notPublic(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	return ""
}

// ParseAllow reads an allow-list: comma-separated CIDR ranges such as
// "10.20.0.0/16, 127.0.0.1/32, ::1/128"; a bare address stands for itself
// alone. Empty means none. Errors quote the entry, since ranges are not
// secrets and the operator needs to see which one is wrong.
func ParseAllow(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "/") {
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("entry %d (%q) is not a CIDR range such as 10.20.0.0/16 or fd12::/64", i+1, entry)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("entry %d (%q) is not a CIDR range such as 10.20.0.0/16 or an IP address", i+1, entry)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func allowed(list []netip.Prefix, ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range list {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
