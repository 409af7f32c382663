package batch_test

import (
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
)

func TestReadMembers(t *testing.T) {
	in := "\ufeffmember_id,username,first_name,last_name,password,street,city,state,zip,country\n" +
		"01234567,NedBaker,Ned,Baker,mYpAsSwOrD,42 Xyzzy Drive,Fred,VA,22222,US\n" +
		"\n" +
		"\"A-100\", ann.smith ,Ann,\"Smith, Jr.\",,,,,,\n"
	ms, problems, err := batch.ReadMembers(strings.NewReader(in))
	if err != nil || len(problems) != 0 {
		t.Fatalf("%v %v", err, problems)
	}
	if len(ms) != 2 || ms[0].Line != 2 || ms[1].Line != 4 {
		t.Fatalf("members %+v", ms)
	}
	if m := ms[0]; m.Password != "mYpAsSwOrD" || m.Member.Address != (cmex.Address{Street: "42 Xyzzy Drive", City: "Fred", State: "VA", Zip: "22222", Country: "US"}) {
		t.Errorf("Ned: %+v", m)
	}
	if m := ms[1]; m.Member.MemberID != "A-100" || m.Member.Username != "ann.smith" || m.Member.FamilyName != "Smith, Jr." || m.Password != "" {
		t.Errorf("Ann: %+v", m)
	}
	// Any column order; the optional ones may be left out.
	ms, problems, err = batch.ReadMembers(strings.NewReader("last_name,first_name,username,member_id\nBaker,Ned,nb,1\n"))
	if err != nil || len(problems) != 0 || len(ms) != 1 || ms[0].Member.GivenName != "Ned" || ms[0].Member.MemberID != "1" {
		t.Errorf("reordered: %+v %v %v", ms, problems, err)
	}
}

// problemStrings runs read and returns its problems as FILE:LINE strings
// would show them, failing when it returned anything besides problems.
func problemStrings(t *testing.T, name string, problems []batch.RowProblem, got int, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got != 0 {
		t.Errorf("%s: %d rows returned with problems", name, got)
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.String())
	}
	return out
}

func TestReadMembersProblems(t *testing.T) {
	const header = "member_id,username,first_name,last_name,password\n"
	for name, tc := range map[string]struct {
		in   string
		want []string
	}{
		"empty":          {"", []string{"line 1: the file is empty; it needs a header row: member_id,username,first_name,last_name,password,street,city,state,zip,country"}},
		"unknown column": {"member_id,username,first_name,last_name,npi\n", []string{"line 1: npi: unknown column; the columns are member_id,username,first_name,last_name,password,street,city,state,zip,country"}},
		"missing column": {"member_id,first_name,last_name\n", []string{"line 1: username: required column missing"}},
		"twice":          {"member_id,username,first_name,last_name,username\n", []string{"line 1: username: column given twice"}},
		"every problem": {header + ",,,," + strings.Repeat("p", 1025) + "\n", []string{
			"line 2: member_id: required", "line 2: username: required", "line 2: first_name: required", "line 2: last_name: required",
			"line 2: password: longer than 1024 bytes"}},
		"long id":       {header + strings.Repeat("1", 65) + ",u,A,B,\n", []string{"line 2: member_id: at most 64 characters"}},
		"id twice":      {header + "1,a,A,B,\n2,b,A,B,\n1,c,A,B,\n", []string{`line 4: member_id: "1" is also on line 2`}},
		"username case": {header + "1,Ned,A,B,\n2,NED,A,B,\n", []string{`line 3: username: "NED" is also on line 2`}},
		"every line":    {header + "1,a,,B,\n2,b,A,,\n3,c,A,B,\n", []string{"line 2: first_name: required", "line 3: last_name: required"}},
		"bad quoting":   {header + "1,a,A,B,\n\"2,b,A,B,\n", []string{`line 3: extraneous or missing " in quoted-field`}},
		"bad header":    {"\"member_id,username\n", []string{`line 1: extraneous or missing " in quoted-field`}},
	} {
		ms, problems, err := batch.ReadMembers(strings.NewReader(tc.in))
		got := problemStrings(t, name, problems, len(ms), err)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", name, got, tc.want)
		}
	}
}

func TestReadSocietyCredits(t *testing.T) {
	in := "member_id,date,title,sponsor,short_name,location,activity_type,type,credits,category,focus\n" +
		"01234567,2003-06-15,PET Imaging Conference,Example Society,PET 2003,\"Hilton Head Island, SC\",Group Learning,CME,3,CAT1,Mammography\n" +
		"01234567,2003-06-15,PET Imaging Conference,Example Society,PET 2003,\"Hilton Head Island, SC\",Group Learning,CME,13.25,CAT1,PET; Nuclear Medicine\n" +
		"A-100,2024-02-01,Chest CT,,,,,moc,1.5,,Medical Knowledge\n" +
		"01234567,2003-06-15,PET Imaging Conference,Example Society,PET 2003,\"Hilton Head Island, SC\",Group Learning,MOC,13.25,CAT1,\n" +
		"A-100,2024-02-31,Bad date,,,,,CME,x,,\n" +
		"A-100,2024-03-01,Bad type,,,,,CPD,1,,\n" +
		",2024-03-01,,,,,,,1,,\n"
	rows, problems, err := batch.ReadSocietyCredits(strings.NewReader(in))
	if err != nil || len(problems) != 0 {
		t.Fatalf("%v %v", err, problems)
	}
	if len(rows) != 5 {
		t.Fatalf("%d credits: %+v", len(rows), rows)
	}
	pet := rows[0]
	if pet.Line != 2 || pet.Position != 1 || len(pet.Problems) != 0 || pet.Credit.MemberID != "01234567" {
		t.Fatalf("PET: %+v", pet)
	}
	c := pet.Credit.CEU
	if c.Title != "PET Imaging Conference" || c.Location != "Hilton Head Island, SC" || c.ShortName != "PET 2003" || c.ActivityType != "Group Learning" ||
		c.Date.String() != "2003-06-15" || len(c.Details) != 3 || c.Credits(cmex.CategoryAMA1) != 1325 {
		t.Errorf("PET's CEU: %+v", c)
	}
	if d := c.Details[1]; d.Type != "CME" || d.Credits != 1325 || strings.Join(d.Focus, "|") != "PET|Nuclear Medicine" {
		t.Errorf("PET's second detail: %+v", d)
	}
	if d := c.Details[2]; d.Type != "MOC" || d.Focus != nil {
		t.Errorf("PET's MOC detail: %+v", d)
	}
	if ct := rows[1]; ct.Line != 4 || ct.Position != 2 || len(ct.Problems) != 0 || ct.Credit.CEU.Details[0].Type != "MOC" || ct.Credit.CEU.Details[0].Category != "CAT1" || ct.Credit.CEU.Details[0].Credits != 150 {
		t.Errorf("Chest CT: %+v", ct)
	}
	for i, want := range []string{
		`line 6: date: "2024-02-31" is not a date (YYYY-MM-DD)|line 6: credits: "x" is not a positive number of credits, such as 1.5`,
		`line 7: type: "CPD" is neither CME nor MOC`,
		`line 8: member_id: required|line 8: title: required`,
	} {
		r := rows[2+i]
		var got []string
		for _, p := range r.Problems {
			got = append(got, p.String())
		}
		if strings.Join(got, "|") != want || r.Position != 3+i {
			t.Errorf("credit %d: %q, want %q", r.Position, got, want)
		}
	}
}

func TestReadSocietyCreditsProblems(t *testing.T) {
	const header = "member_id,date,title,credits\n"
	for name, tc := range map[string]struct {
		in   string
		want []string
	}{
		"empty":          {"", []string{"line 1: the file is empty; it needs a header row: member_id,date,title,sponsor,short_name,location,activity_type,type,credits,category,focus"}},
		"unknown column": {"member_id,date,title,credits,points\n", []string{"line 1: points: unknown column; the columns are member_id,date,title,sponsor,short_name,location,activity_type,type,credits,category,focus"}},
		"missing":        {"member_id,title\n", []string{"line 1: date: required column missing", "line 1: credits: required column missing"}},
		// A file that is not CSV is refused whole, even its good rows.
		"bad quoting": {header + "1,2024-01-01,A,1\n1,\"2024-01-02,B,1\n", []string{`line 3: extraneous or missing " in quoted-field`}},
	} {
		rows, problems, err := batch.ReadSocietyCredits(strings.NewReader(tc.in))
		got := problemStrings(t, name, problems, len(rows), err)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", name, got, tc.want)
		}
	}
	// A credit the domain's rules refuse is a problem of its own.
	rows, _, err := batch.ReadSocietyCredits(strings.NewReader(header + "1,2024-01-01," + strings.Repeat("t", 501) + ",1\n"))
	if err != nil || len(rows) != 1 || len(rows[0].Problems) != 1 || rows[0].Problems[0].String() != "line 2: a title is at most 500 characters" {
		t.Errorf("a long title: %+v, %v", rows, err)
	}
}
