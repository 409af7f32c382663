package cmex_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
)

func TestClassifyAddress(t *testing.T) {
	for addr, want := range map[string]cmex.AddressClass{
		"127.0.0.1":                cmex.ClassLoopback,
		"127.255.0.9":              cmex.ClassLoopback,
		"::1":                      cmex.ClassLoopback,
		"::ffff:127.0.0.1":         cmex.ClassLoopback, // IPv4-mapped
		"::127.0.0.1":              cmex.ClassLoopback, // IPv4-compatible
		"64:ff9b::7f00:1":          cmex.ClassLoopback, // NAT64 of 127.0.0.1
		"2002:7f00:1::1":           cmex.ClassLoopback, // 6to4 of 127.0.0.1
		"169.254.169.254":          cmex.ClassLinkLocal,
		"::ffff:169.254.169.254":   cmex.ClassLinkLocal,
		"fe80::1%eth0":             cmex.ClassLinkLocal,
		"10.1.2.3":                 cmex.ClassPrivate,
		"172.16.0.1":               cmex.ClassPrivate,
		"172.31.255.255":           cmex.ClassPrivate,
		"192.168.1.10":             cmex.ClassPrivate,
		"::ffff:10.0.0.1":          cmex.ClassPrivate,
		"fd00::2":                  cmex.ClassPrivate,
		"fc00::1":                  cmex.ClassPrivate,
		"100.64.1.2":               cmex.ClassShared,
		"100.127.255.255":          cmex.ClassShared,
		"0.0.0.0":                  cmex.ClassUnspecified,
		"::":                       cmex.ClassUnspecified,
		"::ffff:0.0.0.0":           cmex.ClassUnspecified,
		"0.1.2.3":                  cmex.ClassReserved,
		"224.0.0.1":                cmex.ClassMulticast,
		"ff02::1":                  cmex.ClassMulticast,
		"255.255.255.255":          cmex.ClassReserved,
		"240.0.0.1":                cmex.ClassReserved,
		"8.8.8.8":                  "",
		"172.32.0.1":               "",
		"100.128.0.1":              "",
		"192.0.2.10":               "",
		"2001:4860:4860::8888":     "",
		"::ffff:8.8.8.8":           "",
		"2606:4700:4700::1111":     "",
		"2002:808:808::1":          "", // 6to4 of 8.8.8.8
		"64:ff9b::808:808":         "", // NAT64 of 8.8.8.8
		"::ffff:192.168.0.1":       cmex.ClassPrivate,
		"::ffff:100.64.0.1":        cmex.ClassShared,
		"::ffff:224.0.0.1":         cmex.ClassMulticast,
		"::ffff:255.255.255.255":   cmex.ClassReserved,
		"64:ff9b:1::a00:1":         cmex.ClassPrivate,
		"fec0::1":                  cmex.ClassPrivate,
		"100::1":                   cmex.ClassReserved,
		"2001:db8::1":              "",
		"::ffff:239.255.255.255":   cmex.ClassMulticast,
		"::ffff:169.254.169.254%x": cmex.ClassLinkLocal,
	} {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if got := cmex.ClassifyAddress(a); got != want {
			t.Errorf("ClassifyAddress(%s) = %q, want %q", addr, got, want)
		}
	}
}

// fakeResolver answers from a table; a name not in it does not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	as, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range as {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestCheckHost(t *testing.T) {
	res := fakeResolver{
		"public.example":   {"93.184.215.14"},
		"rebind.example":   {"93.184.215.14", "127.0.0.1"}, // any forbidden address refuses the name
		"metadata.example": {"169.254.169.254"},
		"mapped.example":   {"::ffff:10.0.0.7"},
		"internal.example": {"192.168.4.4"},
	}
	strict := cmex.TargetPolicy{Resolver: res}
	open := cmex.TargetPolicy{Resolver: res, AllowPrivate: true}
	for _, tc := range []struct {
		host         string
		strict, open string // "" accepted, else a word of the refusal
	}{
		{"public.example", "", ""},
		{"unknown.example", "", ""}, // checked again when dialled
		{"8.8.8.8", "", ""},
		{"2001:4860:4860::8888", "", ""},
		{"127.0.0.1", "loopback", ""},
		{"::1", "loopback", ""},
		{"::ffff:127.0.0.1", "loopback", ""},
		{"localhost", "loopback", ""},
		{"LOCALHOST.", "loopback", ""},
		{"api.localhost", "loopback", ""},
		{"rebind.example", "resolves to 127.0.0.1, a loopback", ""},
		{"internal.example", "resolves to 192.168.4.4, a private", ""},
		{"mapped.example", "resolves to ::ffff:10.0.0.7, a private", ""},
		{"10.1.2.3", "private", ""},
		{"192.168.1.10", "private", ""},
		{"100.64.1.2", "shared (CGNAT)", ""},
		{"169.254.169.254", "link-local", "link-local"},
		{"metadata.example", "link-local", "link-local"},
		{"fe80::1%eth0", "link-local", "link-local"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"224.0.0.251", "multicast", "multicast"},
		// Odd spellings of numbers, which getaddrinfo reads as 127.0.0.1.
		{"2130706433", "not a host name", "not a host name"},
		{"0x7f.1", "not a host name", "not a host name"},
		{"0177.0.0.1", "not a host name", "not a host name"},
		{"127.1", "not a host name", "not a host name"},
		{"127.0.0.1.", "not a host name", "not a host name"},
		{"０x7f.１", "not a host name", "not a host name"},
	} {
		for _, c := range []struct {
			p    cmex.TargetPolicy
			want string
		}{{strict, tc.strict}, {open, tc.open}} {
			err := c.p.CheckHost(context.Background(), tc.host)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s (allow private %v): refused: %v", tc.host, c.p.AllowPrivate, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s (allow private %v): %v, want a refusal saying %q", tc.host, c.p.AllowPrivate, err, c.want)
			}
		}
	}
}

func TestCheckDestination(t *testing.T) {
	ctx := context.Background()
	strict, open := cmex.TargetPolicy{Resolver: fakeResolver{}}, cmex.TargetPolicy{Resolver: fakeResolver{}, AllowPrivate: true}
	hook := &cmex.Destination{Kind: cmex.DestWebhook, URL: "http://[::ffff:127.0.0.1]:8080/hook"}
	err := strict.CheckDestination(ctx, hook)
	if cmex.ErrorCode(err) != cmex.EINVALID || len(cmex.ErrorProblems(err)) != 1 || cmex.ErrorProblems(err)[0].Field != "url" ||
		!strings.Contains(cmex.ErrorMessage(err), "127.0.0.1 is a loopback address") {
		t.Errorf("loopback webhook: %v %+v", cmex.ErrorMessage(err), cmex.ErrorProblems(err))
	}
	if err := open.CheckDestination(ctx, hook); err != nil {
		t.Errorf("loopback webhook with private destinations allowed: %v", err)
	}
	// A PARS destination: both URLs are checked, and plain http is refused.
	parsDest := &cmex.Destination{Kind: cmex.DestPARS, URL: "http://pars.example", Settings: cmex.DestinationSettings{LearnerURL: "https://10.0.0.5"}}
	ps := cmex.ErrorProblems(strict.CheckDestination(ctx, parsDest))
	if len(ps) != 2 || ps[0].Field != "url" || !strings.Contains(ps[0].Message, "must be https") ||
		ps[1].Field != "settings.learnerUrl" || !strings.Contains(ps[1].Message, "private") {
		t.Errorf("PARS over http with a private learner URL: %+v", ps)
	}
	if err := open.CheckDestination(ctx, parsDest); err != nil {
		t.Errorf("PARS over http to a local test upstream, allowed: %v", err)
	}
	if err := strict.CheckDestination(ctx, &cmex.Destination{Kind: cmex.DestPARS, URL: "https://pars.example"}); err != nil {
		t.Errorf("PARS over https: %v", err)
	}
	// A malformed URL is left to the store, which refuses it in its words.
	if err := strict.CheckDestination(ctx, &cmex.Destination{Kind: cmex.DestWebhook, URL: "x"}); err != nil {
		t.Errorf("malformed URL: %v", err)
	}
	soc := &cmex.Society{Kind: cmex.SocietyRemote, BindingURL: "https://society.example/customer_binding", OrderURL: "http://169.254.169.254/ceu_order"}
	if ps := cmex.ErrorProblems(strict.CheckSociety(ctx, soc)); len(ps) != 1 || ps[0].Field != "orderUrl" || !strings.Contains(ps[0].Message, "link-local") {
		t.Errorf("society with a metadata order URL: %+v", ps)
	}
}

// recordingDeliveries is a DeliveryService that only counts creations.
type recordingDeliveries struct {
	cmex.DeliveryService
	created int
}

func (r *recordingDeliveries) CreateDestination(context.Context, *cmex.Destination) error {
	r.created++
	return nil
}

func TestCheckedDeliveriesStoreNothingRefused(t *testing.T) {
	inner := &recordingDeliveries{}
	ds := cmex.TargetPolicy{Resolver: fakeResolver{}}.Deliveries(inner)
	if err := ds.CreateDestination(context.Background(), &cmex.Destination{Kind: cmex.DestWebhook, URL: "http://10.0.0.1/"}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("private webhook: %v", err)
	}
	if err := ds.CreateDestination(context.Background(), &cmex.Destination{Kind: cmex.DestWebhook, URL: "https://hooks.example/"}); err != nil {
		t.Errorf("public webhook: %v", err)
	}
	if inner.created != 1 {
		t.Errorf("%d destinations reached the store, want 1", inner.created)
	}
}

func TestRemoteText(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"  two\r\n lines\t", 300, "two lines"},
		{"bell\a and NUL\x00", 300, "bell and NUL"},
		{"bad \xff byte", 300, "bad \uFFFD byte"},
		{strings.Repeat("a", 10), 10, strings.Repeat("a", 10)},
		{strings.Repeat("a", 11), 10, strings.Repeat("a", 7) + "…"},
	} {
		if got := cmex.RemoteText(tc.in, tc.limit); got != tc.want {
			t.Errorf("RemoteText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
	// A multi-byte rune is never split, whatever byte the limit falls on.
	for _, r := range []string{"é", "€", "𝄞"} {
		for pad := range 5 {
			s := strings.Repeat("x", pad) + strings.Repeat(r, 200)
			for limit := 4; limit < 40; limit++ {
				got := cmex.RemoteText(s, limit)
				if !utf8.ValidString(got) || len(got) > limit || !strings.HasSuffix(got, "…") {
					t.Fatalf("RemoteText(%d×x + %q…, %d) = %q (%d bytes)", pad, r, limit, got, len(got))
				}
			}
		}
	}
}

func TestUnansweredNamesARefusedAddress(t *testing.T) {
	err := errors.Join(errors.New("dial tcp 127.0.0.1:80"), &cmex.AddressError{Addr: netip.MustParseAddr("127.0.0.1"), Class: cmex.ClassLoopback})
	o := cmex.Unanswered(context.Background(), "the destination", err)
	if o.Result != cmex.DeliveryPending || !strings.Contains(o.Error, "the destination was not called: 127.0.0.1 is a loopback address") {
		t.Errorf("refused: %+v", o)
	}
	if o := cmex.Unanswered(context.Background(), "PARS", errors.New("connection refused")); o.Error != "PARS could not be reached" {
		t.Errorf("unreachable: %+v", o)
	}
}

// FuzzRemoteText: whatever a remote system sends, what is kept is valid
// UTF-8, one line, and within the limit.
func FuzzRemoteText(f *testing.F) {
	f.Add("unknown licence", 300)
	f.Add("déjà\nvu\x00\xff", 5)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = abs(limit) % 400
		got := cmex.RemoteText(s, limit)
		if !utf8.ValidString(got) || len(got) > limit || strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("RemoteText(%q, %d) = %q", s, limit, got)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
