package cmex

import (
	"fmt"
	"strconv"
	"strings"
)

// Points is an amount of credit (AMA PRA Category 1 credits, MOC points) in
// hundredths, so that sums and the 0.25-step rules are exact. 2.5 credits is
// Points(250).
type Points int64

// ParsePoints parses a non-negative decimal with at most two significant
// fractional digits ("2", "2.0", "1.25", "2.0000"). Anything finer, a sign, an
// exponent or a non-number is an error.
func ParsePoints(s string) (Points, error) {
	n, err := parseHundredths(s)
	return Points(n), err
}

// Money is an amount of currency in hundredths (cents).
type Money int64

// ParseMoney parses a non-negative amount with at most two significant
// fractional digits; PARS returns amounts as "12000.0000".
func ParseMoney(s string) (Money, error) {
	n, err := parseHundredths(s)
	return Money(n), err
}

// String formats m as PARS does, with four decimals.
func (m Money) String() string { return fmt.Sprintf("%d.%02d00", m/100, m%100) }

// MarshalText implements encoding.TextMarshaler.
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func parseHundredths(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q has more than two decimal places", s)
	}
	if len(whole) > 9 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	var w int64
	if whole != "" {
		w, _ = strconv.ParseInt(whole, 10, 64)
	}
	f := frac + strings.Repeat("0", 2-len(frac))
	h, _ := strconv.ParseInt(f, 10, 64)
	return w*100 + h, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String formats p with two decimals, as PARS returns credits ("2.00").
func (p Points) String() string {
	sign := ""
	if p < 0 {
		sign, p = "-", -p
	}
	return fmt.Sprintf("%s%d.%02d", sign, p/100, p%100)
}

// QuarterSteps reports whether p is a whole number of quarter points, the
// granularity of MOC points and AMA credit.
func (p Points) QuarterSteps() bool { return p%25 == 0 }

// MarshalText implements encoding.TextMarshaler.
func (p Points) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Points) UnmarshalText(b []byte) error {
	v, err := ParsePoints(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// UnmarshalJSON accepts points as a JSON number (1.5) or string ("1.50").
func (p *Points) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	return p.UnmarshalText([]byte(s))
}
