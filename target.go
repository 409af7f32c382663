package cmex

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Where cmex sends. Providers name the URLs their records are forwarded
// to and operators the URLs of remote societies; cmex POSTs there and
// tells the caller what came back. Left unchecked, anyone with a web-service
// user could make cmex call services only it can reach (its own loopback
// ports, a cloud's metadata service at 169.254.169.254, the private
// network) and learn from the answers: server-side request forgery. The
// rule is checked when a URL is given (TargetPolicy.CheckHost, through the
// Deliveries and Societies wrappers) and again on every connection, by the
// dialer of internal/netguard, on the address actually dialled, so that a
// name resolving elsewhere later (DNS rebinding) gains nothing.

// AddressClass names a kind of address cmex does not send to.
type AddressClass string

const (
	ClassLoopback    AddressClass = "loopback"       // 127.0.0.0/8, ::1
	ClassPrivate     AddressClass = "private"        // RFC 1918, fc00::/7, fec0::/10
	ClassShared      AddressClass = "shared (CGNAT)" // 100.64.0.0/10, RFC 6598
	ClassLinkLocal   AddressClass = "link-local"     // 169.254.0.0/16 (cloud metadata services), fe80::/10
	ClassUnspecified AddressClass = "unspecified"    // 0.0.0.0, ::
	ClassMulticast   AddressClass = "multicast"      // 224.0.0.0/4, ff00::/8
	ClassReserved    AddressClass = "reserved"       // 0.0.0.0/8, 192.0.0.0/24, 198.18.0.0/15, 240.0.0.0/4, 100::/64
)

// Allowable reports whether TargetPolicy.AllowPrivate lifts the refusal
// of c: loopback, private and shared addresses can be an on-premises
// receiver; link-local (where cloud metadata services answer), unspecified,
// multicast and reserved addresses never are one.
func (c AddressClass) Allowable() bool {
	return c == ClassLoopback || c == ClassPrivate || c == ClassShared
}

var v4Ranges = []struct {
	p netip.Prefix
	c AddressClass
}{
	{netip.MustParsePrefix("0.0.0.0/32"), ClassUnspecified},
	{netip.MustParsePrefix("0.0.0.0/8"), ClassReserved},
	{netip.MustParsePrefix("10.0.0.0/8"), ClassPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ClassShared},
	{netip.MustParsePrefix("127.0.0.0/8"), ClassLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ClassLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), ClassPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ClassReserved},
	{netip.MustParsePrefix("192.168.0.0/16"), ClassPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ClassReserved},
	{netip.MustParsePrefix("224.0.0.0/4"), ClassMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), ClassReserved},
}

var v6Ranges = []struct {
	p netip.Prefix
	c AddressClass
}{
	{netip.MustParsePrefix("::/128"), ClassUnspecified},
	{netip.MustParsePrefix("::1/128"), ClassLoopback},
	{netip.MustParsePrefix("100::/64"), ClassReserved}, // discard-only
	{netip.MustParsePrefix("64:ff9b:1::/48"), ClassPrivate},
	{netip.MustParsePrefix("fc00::/7"), ClassPrivate},
	{netip.MustParsePrefix("fe80::/10"), ClassLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ClassPrivate},
	{netip.MustParsePrefix("ff00::/8"), ClassMulticast},
}

// IPv6 prefixes that carry an IPv4 address in their low 32 bits (IPv4-
// compatible, NAT64's well-known prefix) or, for 6to4, in bits 16 to 47:
// such an address reaches the IPv4 address it carries, and is judged as it.
var (
	v4Compatible = netip.MustParsePrefix("::/96")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
)

// ClassifyAddress returns the class of a, or "" when cmex may send to it.
// IPv4-mapped (::ffff:127.0.0.1), IPv4-compatible, NAT64 and 6to4 forms
// are judged as the IPv4 address they carry; a zone is ignored.
func ClassifyAddress(a netip.Addr) AddressClass {
	if !a.IsValid() {
		return ClassReserved
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		for _, r := range v6Ranges {
			if r.p.Contains(a) {
				return r.c
			}
		}
		b := a.As16()
		switch {
		case v4Compatible.Contains(a), nat64.Contains(a):
			return ClassifyAddress(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return ClassifyAddress(netip.AddrFrom4([4]byte(b[2:6])))
		}
		return ""
	}
	for _, r := range v4Ranges {
		if r.p.Contains(a) {
			return r.c
		}
	}
	return ""
}

// AddressError is a URL or a connection refused because of where it
// would go. Its message is safe to show the provider or operator who gave
// the URL.
type AddressError struct {
	Host  string     // the name given, when it is not the address itself
	Addr  netip.Addr // the address refused; zero when the name alone is refused
	Class AddressClass
}

func (e *AddressError) Error() string {
	var b strings.Builder
	article := "a"
	if e.Class != "" && strings.ContainsRune("aeiou", rune(e.Class[0])) {
		article = "an"
	}
	switch {
	case e.Addr.IsValid() && e.Host != "":
		fmt.Fprintf(&b, "%s resolves to %s, %s %s address", e.Host, e.Addr.WithZone(""), article, e.Class)
	case e.Addr.IsValid():
		fmt.Fprintf(&b, "%s is %s %s address", e.Addr.WithZone(""), article, e.Class)
	default:
		fmt.Fprintf(&b, "%s names %s addresses", e.Host, e.Class)
	}
	if e.Class.Allowable() {
		b.WriteString(": cmex sends only to public addresses (an operator may allow loopback, private and shared addresses for on-premises receivers with -allow-private-destinations)")
	} else {
		b.WriteString(": cmex never sends to link-local, unspecified, multicast or reserved addresses")
	}
	return b.String()
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DefaultLookupTimeout bounds the lookup of a name when a URL is checked.
const DefaultLookupTimeout = 5 * time.Second

// TargetPolicy decides which addresses cmex sends to: public ones only,
// unless AllowPrivate (the operator's -allow-private-destinations) also
// lets loopback, private and shared (CGNAT) addresses through.
type TargetPolicy struct {
	AllowPrivate bool
	// Resolver looks names up when a URL is checked (nil: the system's).
	Resolver Resolver
	// LookupTimeout bounds one lookup (0: DefaultLookupTimeout).
	LookupTimeout time.Duration
}

// CheckAddr returns nil when cmex may connect to a, else an *AddressError.
func (p TargetPolicy) CheckAddr(a netip.Addr) error {
	c := ClassifyAddress(a)
	if c == "" || p.AllowPrivate && c.Allowable() {
		return nil
	}
	return &AddressError{Addr: a, Class: c}
}

// CheckHost judges the host of a URL cmex is to send to: an IP address
// directly, in any form Go's URL parser passes on (IPv6 with a zone,
// IPv4-mapped IPv6); localhost and its subdomains as loopback; a name by
// every address it resolves to now. A host whose last label begins with a
// digit is no name but an odd spelling of a number (2130706433, 0x7f.1,
// 127.1, 127.0.0.1.), which some resolvers (getaddrinfo) read as an IPv4
// address: it is refused outright. A name that does not resolve now (or
// under .invalid, which never does) is accepted; the dialer checks the
// address of every connection anyway.
func (p TargetPolicy) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" {
		return fmt.Errorf("the URL has no host")
	}
	last := name[strings.LastIndex(name, ".")+1:]
	if r, _ := utf8.DecodeRuneInString(last); unicode.IsDigit(r) {
		return fmt.Errorf("%q is not a host name: write an IPv4 address as four decimal numbers (192.0.2.10) and an IPv6 one in brackets", host)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if p.AllowPrivate {
			return nil
		}
		return &AddressError{Host: host, Class: ClassLoopback}
	}
	if name == "invalid" || strings.HasSuffix(name, ".invalid") {
		return nil // never resolves (RFC 6761): nothing to ask
	}
	res := p.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	timeout := p.LookupTimeout
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := res.LookupNetIP(lctx, "ip", name)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			err.(*AddressError).Host = host
			return err
		}
	}
	return nil
}

// problems judges the URLs of a destination or society, named by their
// JSON fields. A URL that cannot be parsed, or is not http(s) with a host,
// is left to the store's own checks, which refuse it.
func (p TargetPolicy) problems(ctx context.Context, urls [][2]string, plainHTTPRule string) Problems {
	var ps Problems
	for _, fu := range urls {
		field, raw := fu[0], fu[1]
		u, err := url.Parse(raw)
		if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		if u.Scheme == "http" && plainHTTPRule != "" && !p.AllowPrivate {
			ps = append(ps, Problem{Field: field, Message: plainHTTPRule, Severity: SeverityError})
		}
		if err := p.CheckHost(ctx, u.Hostname()); err != nil {
			ps = append(ps, Problem{Field: field, Message: err.Error(), Severity: SeverityError})
		}
	}
	return ps
}

// refusedTargets is the error of refused URLs of what ("the
// destination"): EINVALID with a problem per URL, its message naming each.
func refusedTargets(what string, ps Problems) error {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = what + "'s " + p.Field + " is refused: " + p.Message
	}
	return &Error{Code: EINVALID, Message: strings.Join(msgs, "; "), Problems: ps}
}

// CheckDestination judges where d sends: its URL and, for PARS, its
// learner service's URL. A PARS destination sends the upstream password
// with every request, so over plain http:// it is refused too, unless
// AllowPrivate (a local test upstream). The error is EINVALID with a
// problem per URL at fault.
func (p TargetPolicy) CheckDestination(ctx context.Context, d *Destination) error {
	urls := [][2]string{{"url", d.URL}}
	plain := ""
	if d.Kind == DestPARS {
		urls = append(urls, [2]string{"settings.learnerUrl", d.Settings.LearnerURL})
		plain = "a PARS destination sends the upstream password with every request, so it must be https (plain http is allowed only with -allow-private-destinations, for a local test upstream)"
	}
	if ps := p.problems(ctx, urls, plain); len(ps) > 0 {
		return refusedTargets("the destination", ps)
	}
	return nil
}

// CheckSociety judges where a remote society is called.
func (p TargetPolicy) CheckSociety(ctx context.Context, s *Society) error {
	if ps := p.problems(ctx, [][2]string{{"bindingUrl", s.BindingURL}, {"orderUrl", s.OrderURL}}, ""); len(ps) > 0 {
		return refusedTargets("the society", ps)
	}
	return nil
}

// Deliveries checks every destination created or updated through s first;
// a refused one is not stored.
func (p TargetPolicy) Deliveries(s DeliveryService) DeliveryService { return checkedDeliveries{s, p} }

// Societies checks every society created through s first; a refused one
// is not stored.
func (p TargetPolicy) Societies(s SocietyService) SocietyService { return checkedSocieties{s, p} }

type checkedDeliveries struct {
	DeliveryService
	p TargetPolicy
}

func (s checkedDeliveries) CreateDestination(ctx context.Context, d *Destination) error {
	if err := s.p.CheckDestination(ctx, d); err != nil {
		return err
	}
	return s.DeliveryService.CreateDestination(ctx, d)
}

func (s checkedDeliveries) UpdateDestination(ctx context.Context, d *Destination) error {
	if err := s.p.CheckDestination(ctx, d); err != nil {
		return err
	}
	return s.DeliveryService.UpdateDestination(ctx, d)
}

type checkedSocieties struct {
	SocietyService
	p TargetPolicy
}

func (s checkedSocieties) CreateSociety(ctx context.Context, so *Society) error {
	if err := s.p.CheckSociety(ctx, so); err != nil {
		return err
	}
	return s.SocietyService.CreateSociety(ctx, so)
}
