package cmex

import (
	"fmt"
	"strconv"
	"strings"
)

// OrganizationID is cmex's own key for an organization.
type OrganizationID int64

// UserID is cmex's own key for a web-service user.
type UserID int64

// ProviderID is the ACCME provider id of an accredited provider: up to ten
// digits, seven in practice, leading zeros allowed on the wire. It is kept in
// canonical form, without leading zeros, so "0123456" and "123456" name the
// same provider.
type ProviderID string

// ParseProviderID returns the canonical form of s, or an error if s is not
// one to ten decimal digits.
func ParseProviderID(s string) (ProviderID, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		return "", fmt.Errorf("provider id %q: want 1 to 10 digits", s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("provider id %q: want 1 to 10 digits", s)
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "", fmt.Errorf("provider id 0 is not valid")
	}
	return ProviderID(s), nil
}

// ActivityID is the nine-digit ACCME Activity ID that the registry assigns
// when an activity is added.
type ActivityID int64

// Activity ids are nine digits: the registry assigns them from this range.
const (
	MinActivityID ActivityID = 100000000
	MaxActivityID ActivityID = 999999999
)

// ParseActivityID parses a nine-digit ACCME Activity ID.
func ParseActivityID(s string) (ActivityID, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || len(s) != 9 || ActivityID(n) < MinActivityID {
		return 0, fmt.Errorf("activity id %q: want nine digits", s)
	}
	return ActivityID(n), nil
}

func (id ActivityID) String() string { return strconv.FormatInt(int64(id), 10) }
