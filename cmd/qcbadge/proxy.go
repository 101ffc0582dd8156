package main

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The headers a trusted proxy may name the client in (-proxy-header).
const (
	headerXFF       = "x-forwarded-for"
	headerForwarded = "forwarded"
)

// proxies are the reverse proxies qcbadge sits behind (-trusted-proxies),
// and the header they name the client in (-proxy-header). Only a request
// whose peer is one of them is read for its client's address: anyone
// else can write any header, and a flood that forged a new address a
// request would escape the per-address lookup limit.
type proxies struct {
	nets   []netip.Prefix
	header string // headerXFF or headerForwarded
}

// parseProxies reads a comma-separated list of CIDRs (a bare address is
// its own /32 or /128).
func parseProxies(list, header string) (*proxies, error) {
	p := &proxies{header: strings.ToLower(strings.TrimSpace(header))}
	switch p.header {
	case headerXFF, headerForwarded:
	default:
		return nil, usagef("-proxy-header (QC_PROXY_HEADER): %q is not X-Forwarded-For or Forwarded", header)
	}
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, usagef("-trusted-proxies (QC_TRUSTED_PROXIES): %q is not a CIDR such as 10.0.0.0/8 or fd00::/8", s)
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		if pre.Addr().Is4In6() {
			// A mapped IPv4 network is the IPv4 one: peers are compared
			// unmapped.
			if pre.Bits() < 96 {
				return nil, usagef("-trusted-proxies (QC_TRUSTED_PROXIES): %q mixes IPv4 and IPv6", s)
			}
			pre = netip.PrefixFrom(pre.Addr().Unmap(), pre.Bits()-96)
		}
		p.nets = append(p.nets, pre.Masked())
	}
	return p, nil
}

func (p *proxies) trusted(a netip.Addr) bool {
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress is the address a request came from: its peer's, unless
// the peer is a trusted proxy, and then the rightmost address of the
// proxy header that is not itself a trusted proxy. The entries left of
// that one are what the client sent, and are never read. An entry a
// trusted proxy wrote that names no address (unknown, an obfuscated
// identifier, garbage) makes that proxy the client: the requests it
// passes on share its budget rather than escape it.
func (p *proxies) clientAddress(r *http.Request) string {
	peer, ok := parseNode(r.RemoteAddr)
	if !ok || !p.trusted(peer) {
		return r.RemoteAddr
	}
	var hops []string
	if p.header == headerForwarded {
		hops = forwardedFor(r.Header.Values("Forwarded"))
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			break
		}
		client = a
		if !p.trusted(a) {
			break
		}
	}
	return client.String()
}

// parseNode reads an address as a proxy header or RemoteAddr writes it:
// 192.0.2.1, 192.0.2.1:4711, 2001:db8::1, [2001:db8::1], [2001:db8::1]:4711,
// with or without the quotes Forwarded puts around the last three. A
// zone is dropped, and a mapped IPv4 address is the IPv4 one.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// forwardedFor is the for= of each element of Forwarded headers
// (RFC 7239), in order; "" for an element without one or that cannot be
// read.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, el := range splitQuoted(v, ',') {
			for_ := ""
			bad := false
			for _, pair := range splitQuoted(el, ';') {
				pair = strings.TrimSpace(pair)
				if pair == "" {
					continue
				}
				name, value, ok := strings.Cut(pair, "=")
				if !ok {
					bad = true
					break
				}
				if strings.EqualFold(strings.TrimSpace(name), "for") {
					if for_ != "" {
						bad = true // two for= in one element: which one?
						break
					}
					for_ = strings.TrimSpace(value)
				}
			}
			if bad {
				for_ = ""
			}
			out = append(out, for_)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings, whose backslash
// escapes it honours.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
