package cmex

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"
)

// Date is a calendar date without a time of day or a zone: the day an
// activity starts, a learner completes it, a credit claim closes. The zero
// Date means "not given".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// dateLayouts are the forms PARS accepts. A time of day is allowed and
// dropped: "submit only the date" is the seed's advice, and cmex keeps the
// date the sender wrote rather than shifting it through a zone conversion.
var dateLayouts = []string{
	"2006-01-02",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05",
}

// ParseDate accepts YYYY-MM-DD, optionally followed by a time of day (and a
// zone), and returns the date part. Impossible dates such as 2021-02-31 are
// errors. The second result reports whether a time of day was present.
func ParseDate(s string) (d Date, hadTime bool, err error) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		t, perr := time.Parse(layout, s)
		if perr != nil {
			continue
		}
		if t.Year() < 1 || t.Year() > 9999 {
			break
		}
		return Date{t.Year(), t.Month(), t.Day()}, len(s) > len("2006-01-02"), nil
	}
	return Date{}, false, fmt.Errorf("date %q: want YYYY-MM-DD", s)
}

// MustParseDate is ParseDate for literals in tests and fixtures.
func MustParseDate(s string) Date {
	d, _, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	default:
		return cmpInt(d.Day, e.Day)
	}
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; an empty text is the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, _, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Value implements driver.Valuer: a date is stored as YYYY-MM-DD text, or NULL.
func (d Date) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// Scan implements sql.Scanner for DATE and TEXT columns.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = Date{}
		return nil
	case time.Time:
		*d = Date{v.Year(), v.Month(), v.Day()}
		return nil
	case string:
		return d.UnmarshalText([]byte(v))
	case []byte:
		return d.UnmarshalText(v)
	}
	return fmt.Errorf("cmex.Date: cannot scan %T", src)
}
