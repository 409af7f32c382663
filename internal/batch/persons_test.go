package batch_test

import (
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/batch"
)

func TestReadPersons(t *testing.T) {
	in := "\ufefffirst_name,last_name,birth_date,npi,board,board_id,license_state,license_id,oci_id,medical_school,email\n" +
		"Helen,Markman,1970-09-26,1234567890,ABIM,999898,OH,44861,,Harvard Medical School,helen@example.org\n" +
		"Helen,Markman,1970-09-26,,abim,999898,IN,99-1,,,\n" +
		"\n" +
		"Jane,ACCME,1904-10-30,,ABIM,999902,ME,MD999902,CA-ON-CPSO-12345,,\n"
	ps, problems, err := batch.ReadPersons(strings.NewReader(in))
	if err != nil || len(problems) != 0 {
		t.Fatalf("%v %v", err, problems)
	}
	if len(ps) != 2 || ps[0].Line != 2 || ps[1].Line != 5 {
		t.Fatalf("persons %+v", ps)
	}
	h := ps[0].Person
	if h.NPI != "1234567890" || len(h.BoardIDs) != 1 || h.BoardIDs[0].Board != "ABIM" || len(h.Licenses) != 2 || h.Email != "helen@example.org" {
		t.Errorf("Helen's rows were not merged: %+v", h)
	}
	if ps[1].Person.OCIID != "CA-ON-CPSO-12345" || ps[1].Person.BirthDate.String() != "1904-10-30" {
		t.Errorf("Jane: %+v", ps[1].Person)
	}
}

func TestReadPersonsProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want []string
	}{
		"empty":          {"", []string{"line 1: the file is empty"}},
		"unknown column": {"first_name,last_name,birth_date,shoe_size\n", []string{"line 1: shoe_size: unknown column"}},
		"missing column": {"first_name,last_name\n", []string{"line 1: birth_date: required column missing"}},
		"31 February":    {"first_name,last_name,birth_date\nA,B,1980-02-31\n", []string{`line 2: birth_date: "1980-02-31" is not a date`}},
		"every problem": {"first_name,last_name,birth_date,npi,board,board_id,license_state,license_id,oci_id,email\n" +
			",B,1980-01-01,123,ABXYZ,1,ZZ,9,ON-12345,not-an-address\n", []string{
			"line 2: first_name: required", `line 2: npi: "123" is not ten digits`, `line 2: board: "ABXYZ" is not a participating board`,
			`line 2: license_state: "ZZ" is not a US state`, `line 2: oci_id: "ON-12345" is not an OCI ID`, `line 2: email: "not-an-address" is not an e-mail address`}},
		"board without id": {"first_name,last_name,birth_date,board\nA,B,1980-01-01,ABIM\n", []string{"line 2: board: board and board_id go together"}},
		"conflicting rows": {"first_name,last_name,birth_date,npi\nA,B,1980-01-01,1111111111\nA,B,1980-01-01,2222222222\n", []string{`line 3: npi "2222222222" differs for the same person (line 2 says otherwise)`}},
		"bad quoting":      {"first_name,last_name,birth_date\n\"A,B,1980-01-01\n", []string{"line 2"}},
	} {
		ps, problems, err := batch.ReadPersons(strings.NewReader(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ps != nil {
			t.Errorf("%s: persons returned despite problems", name)
		}
		var got []string
		for _, p := range problems {
			got = append(got, p.String())
		}
		for _, w := range tc.want {
			found := false
			for _, g := range got {
				found = found || strings.HasPrefix(g, w)
			}
			if !found {
				t.Errorf("%s: problems %q lack %q", name, got, w)
			}
		}
	}
}
