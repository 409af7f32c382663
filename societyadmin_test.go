package cmex_test

import (
	"regexp"
	"testing"

	"github.com/cmexhub/cmex"
)

func TestGeneratePassword(t *testing.T) {
	form := regexp.MustCompile(`^[2-9a-km-np-z]{5}(-[2-9a-km-np-z]{5}){3}$`)
	seen := map[string]bool{}
	for range 1000 {
		p := cmex.GeneratePassword()
		if !form.MatchString(p) || seen[p] {
			t.Fatalf("password %q (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}

func TestAddressOneLine(t *testing.T) {
	for _, c := range []struct {
		a    cmex.Address
		want string
	}{
		{cmex.Address{Street: "42 Xyzzy Drive", City: "Fred", State: "VA", Zip: "22222", Country: "US"}, "42 Xyzzy Drive, Fred VA 22222 US"},
		{cmex.Address{City: "Norfolk", State: "VA", Country: "US"}, "Norfolk VA US"},
		{cmex.Address{Street: " 1 Main St "}, "1 Main St"},
		{cmex.Address{}, ""},
	} {
		if got := c.a.OneLine(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.a, got, c.want)
		}
	}
}

func TestMemberImportProblems(t *testing.T) {
	rows := []cmex.MemberRow{{Line: 2}, {Line: 5}}
	err := &cmex.Error{Code: cmex.EINVALID, Problems: cmex.Problems{{Field: "member[2]", Message: "username x is member 1's"}, {Field: "member[9]", Message: "elsewhere"}}}
	got := cmex.MemberImportProblems(rows, err)
	if len(got) != 2 || got[0] != (cmex.FileProblem{Line: 5, Message: "username x is member 1's"}) || got[1] != (cmex.FileProblem{Message: "elsewhere"}) {
		t.Errorf("%+v", got)
	}
}
