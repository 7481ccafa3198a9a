package runbooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Resolver looks host names up for parameters of type host; *net.Resolver
// is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolveTimeout bounds the lookup of one host parameter.
const resolveTimeout = 5 * time.Second

// addrClass is a range of addresses a host parameter refuses, and what to
// call it in the refusal.
type addrClass struct {
	prefix  netip.Prefix
	what    string
	private bool // refused unless allow_private
}

// refusedAddrs are the ranges no host parameter may reach: the bot's own
// host and the cloud metadata services (which hand out credentials), and
// addresses that are not a single remote host. Private ranges are refused
// unless the parameter says allow_private. More specific ranges come first.
var refusedAddrs = func() []addrClass {
	var out []addrClass
	add := func(what string, private bool, prefixes ...string) {
		for _, p := range prefixes {
			out = append(out, addrClass{prefix: netip.MustParsePrefix(p), what: what, private: private})
		}
	}
	add("a cloud metadata address", false, "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32",
		"168.63.129.16/32", "fd00:ec2::254/128")
	add("an unspecified address", false, "0.0.0.0/8", "::/128")
	add("a loopback address", false, "127.0.0.0/8", "::1/128")
	add("a link-local address", false, "169.254.0.0/16", "fe80::/10")
	add("a multicast address", false, "224.0.0.0/4", "ff00::/8")
	add("a reserved address", false, "240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15")
	add("a private address", true, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
	return out
}()

// metadataNames are host names of cloud metadata services, refused even
// when they do not resolve here (the runbook's program may resolve them
// differently).
var metadataNames = map[string]bool{
	"metadata": true, "metadata.google.internal": true, "metadata.goog": true,
	"instance-data": true, "instance-data.ec2.internal": true, "metadata.azure.internal": true,
}

// checkAddr refuses addresses of the refused ranges, looking through IPv6
// forms that carry an IPv4 address (mapped, NAT64, 6to4, compatible).
func checkAddr(a netip.Addr, allowPrivate bool) error {
	a = a.Unmap()
	if a.Zone() != "" {
		return errors.New("must not carry an IPv6 zone")
	}
	for _, c := range refusedAddrs {
		if c.prefix.Contains(a) && !(c.private && allowPrivate) {
			return fmt.Errorf("is %s (%s)", c.what, a)
		}
	}
	if a.Is6() {
		b := a.As16()
		var v4 [4]byte
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a), netip.MustParsePrefix("::/96").Contains(a):
			copy(v4[:], b[12:])
		case netip.MustParsePrefix("2002::/16").Contains(a):
			copy(v4[:], b[2:6])
		default:
			return nil
		}
		if err := checkAddr(netip.AddrFrom4(v4), allowPrivate); err != nil {
			return fmt.Errorf("embeds an address that %s", strings.TrimPrefix(err.Error(), "is "))
		}
	}
	return nil
}

// checkHost validates a host parameter without looking it up: a DNS name or
// an IP address, with a port when the parameter allows one. It returns the
// canonical form (lower case, IPv6 in brackets as in a URL) and, for a name,
// the name to resolve.
func (p *Param) checkHost(val string) (canon, name string, err error) {
	host, port := val, ""
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return "", "", errors.New("has an unclosed [")
		}
		host, port = host[1:end], host[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return "", "", errors.New("has text after ]")
		}
		port = strings.TrimPrefix(port, ":")
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return "", "", errors.New("has brackets around something that is not an IPv6 address")
		}
	} else if strings.Count(host, ":") == 1 {
		host, port, _ = strings.Cut(host, ":")
	}
	if strings.Contains(val, ":") && port == "" && strings.HasSuffix(val, ":") {
		return "", "", errors.New("has an empty port")
	}
	if port != "" {
		if !p.WithPort {
			return "", "", errors.New("must be a host name or address without a port")
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || !isDecimal(port) || strings.HasPrefix(port, "-") {
			return "", "", fmt.Errorf("has port %q; want 1 to 65535", clip(port, 8))
		}
		port = strconv.Itoa(n)
	}
	withPort := func(h string) string {
		if port == "" {
			return h
		}
		return h + ":" + port
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := checkAddr(a, p.AllowPrivate); err != nil {
			return "", "", err
		}
		a = a.Unmap()
		if a.Is6() {
			return withPort("[" + a.String() + "]"), "", nil
		}
		return withPort(a.String()), "", nil
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if err := checkHostName(h); err != nil {
		return "", "", err
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "", "", errors.New("is the bot's own host (localhost)")
	}
	if metadataNames[h] {
		return "", "", errors.New("is a cloud metadata service")
	}
	return withPort(h), h, nil
}

// checkHostName accepts DNS names of letters, digits and dashes, and refuses
// what resolvers read as a number (2130706433, 127.1, 0x7f.0.0.1): curl and
// the C library take those for IPv4 addresses.
func checkHostName(h string) error {
	if h == "" || len(h) > 253 {
		return errors.New("must be a host name of 1 to 253 characters")
	}
	numeric := true
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("must be a host name such as api.example.com")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New("must be a host name such as api.example.com")
			}
		}
		if !isInetNumber(label) {
			numeric = false
		}
	}
	if numeric {
		return errors.New("is an address written as a number; write it as an IP address")
	}
	return nil
}

// isInetNumber reports whether label is a number as inet_aton reads one:
// decimal, octal (leading 0) or hexadecimal (0x).
func isInetNumber(label string) bool {
	digits := label
	if strings.HasPrefix(label, "0x") {
		digits = label[2:]
		for _, c := range digits {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return digits != ""
}

// resolveHost looks name up and refuses it when any of its addresses is
// refused (a name pointing at 127.0.0.1 or the metadata service is as bad
// as the address itself).
func (p *Param) resolveHost(ctx context.Context, r Resolver, name string) error {
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("%s could not be resolved here", name)
	}
	for _, a := range addrs {
		if err := checkAddr(a, p.AllowPrivate); err != nil {
			return fmt.Errorf("resolves to an address that %s", strings.TrimPrefix(err.Error(), "is "))
		}
	}
	return nil
}
