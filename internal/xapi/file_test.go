package xapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

// TestImportLines: what Import makes of lines the cmd tests do not
// write: a byte-order mark and CRLF endings, an id twice in one batch,
// the voiding of a voiding statement, another store's authority (replaced)
// and this provider's naming another user (kept, with its stored).
func TestImportLines(t *testing.T) {
	store := cmextest.NewStore(t, today)
	p, err := store.Users.Authenticate(t.Context(), cmextest.ProviderA, "webserviceuser@yourdomain.org", cmextest.Password)
	if err != nil {
		t.Fatal(err)
	}
	by := *p
	by.User.Username = "import"
	xs := sqlstore.NewXAPIService(store.DB)
	var got []xapi.ImportLine
	im := &xapi.Importer{Store: xs, Principal: &by, Now: store.Clock.Now, Report: func(l xapi.ImportLine) error {
		got = append(got, l)
		return nil
	}}
	const (
		a, b, c, v1, v2 = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c",
			"00000000-0000-4000-8000-0000000000f1", "00000000-0000-4000-8000-0000000000f2"
	)
	voiding := func(id, target string) string {
		return fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:lms@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":%q}}`, id, target)
	}
	withAuthority := func(id, authority, stored string) string {
		return strings.TrimSuffix(statement(id), "}") + `,"authority":` + authority + `,"stored":"` + stored + `"}`
	}
	own := `{"objectType":"Agent","name":"AAA Test Organization","account":{"homePage":"urn:cmex:provider:` + string(p.Organization.ProviderID) + `","name":"lms-user"}}`
	other := `{"objectType":"Agent","mbox":"mailto:other-lrs@example.org"}`
	file := "\ufeff" + statement(a) + "\r\n" + // 1
		statement(a) + "\r\n" + // 2: again in its batch: present
		voiding(v1, a) + "\n" + // 3
		voiding(v2, v1) + "\n" + // 4: voids a voiding statement
		withAuthority(b, other, "2020-01-01T00:00:00.000Z") + "\n" + // 5: authority and stored replaced
		withAuthority(c, own, "2020-01-01T00:00:00.000Z") + "\n" // 6: kept
	if err := im.Import(t.Context(), strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, l := range got {
		outcomes = append(outcomes, fmt.Sprintf("%d:%s", l.Line, l.Outcome))
	}
	if s := strings.Join(outcomes, " "); s != "1:accepted 2:present 3:accepted 4:rejected 5:accepted 6:accepted" {
		t.Fatalf("outcomes %s\n%+v", s, got)
	}
	if !strings.Contains(got[3].Problems[0].Message, "voids a voiding statement") {
		t.Errorf("line 4: %+v", got[3])
	}
	authority := func(id string) (map[string]any, string) {
		st, err := xs.Statement(t.Context(), p.Organization.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(st.JSON, &m)
		acct, _ := m["authority"].(map[string]any)["account"].(map[string]any)
		return acct, m["stored"].(string)
	}
	if acct, stored := authority(b); acct["name"] != "import" || stored == "2020-01-01T00:00:00.000Z" {
		t.Errorf("another store's authority: %v, stored %s; want the import's, now", acct, stored)
	}
	if acct, stored := authority(c); acct["name"] != "lms-user" || stored != "2020-01-01T00:00:00.000Z" {
		t.Errorf("the provider's own authority: %v, stored %s; want both kept", acct, stored)
	}

	// The export of it all, imported again: every line present.
	var out bytes.Buffer
	if err := xapi.Export(t.Context(), xs, p.Organization.ID, today.AddDate(-10, 0, 0), today.AddDate(1, 0, 0), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Fatalf("export: %d lines, want 4 (a voided, its voiding, b, c)\n%s", n, out.String())
	}
	got = nil
	if err := im.Import(t.Context(), &out); err != nil {
		t.Fatal(err)
	}
	for _, l := range got {
		if l.Outcome != cmex.OutcomePresent {
			t.Errorf("the export imported again: %+v", l)
		}
	}
}

// FuzzImport imports any file: no panic, no error (a line is refused, the
// import goes on), and one report line for each line not blank, in order.
func FuzzImport(f *testing.F) {
	store := cmextest.NewStore(f, today)
	p, err := store.Users.Authenticate(f.Context(), cmextest.ProviderA, "webserviceuser@yourdomain.org", cmextest.Password)
	if err != nil {
		f.Fatal(err)
	}
	xs := sqlstore.NewXAPIService(store.DB)
	f.Add([]byte(statement(id1) + "\n" + statement(id1) + "\n{\n\n[]\n"))
	f.Add([]byte("\ufeff" + strings.TrimSuffix(statement(id1), "}") + `,"attachments":[{"usageType":"http://x.org/u","display":{"en":"x"},"contentType":"text/plain","length":1,"sha2":"` + sha256Hex("x") + `"}]}` + "\r\n"))
	f.Add([]byte(`{"actor":{"mbox":"mailto:a@b.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"` + id1 + `"}}`))
	f.Fuzz(func(t *testing.T, file []byte) {
		var lines []int
		im := &xapi.Importer{Store: xs, Principal: p, Now: store.Clock.Now, Report: func(l xapi.ImportLine) error {
			lines = append(lines, l.Line)
			return nil
		}}
		if err := im.Import(t.Context(), bytes.NewReader(file)); err != nil {
			t.Fatalf("Import: %v", err)
		}
		var want []int
		for i, l := range bytes.Split(file, []byte("\n")) {
			if i == 0 {
				l = bytes.TrimPrefix(l, []byte("\ufeff"))
			}
			if len(bytes.TrimSpace(l)) > 0 {
				want = append(want, i+1)
			}
		}
		if fmt.Sprint(lines) != fmt.Sprint(want) {
			t.Fatalf("reported lines %v, want %v", lines, want)
		}
	})
}
