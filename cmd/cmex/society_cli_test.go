package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSocietyImportCLI: cmex society member-import imports a members CSV
// whole or not at all and prints the passwords it generated once; cmex
// society import reads credits CSV and ceu_order XML credit by credit,
// prints each rejected one as FILE:LINE, exits 1 then, and records
// nothing twice.
func TestSocietyImportCLI(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	if out, code := runCLI(t, env, "", "society", "add", "-code", "EXAMPLE", "-name", "Example Society"); code != 0 {
		t.Fatalf("society add: %s", out)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.csv", "member_id,username,first_name,last_name\nE-1,a,Ann,\nE-1,b,Bob,Jones\n")
	out, code := runCLI(t, env, "", "society", "member-import", "-society", "EXAMPLE", bad)
	if code == 0 || !strings.Contains(out, bad+":2: last_name: required") || !strings.Contains(out, bad+`:3: member_id: "E-1" is also on line 2`) || !strings.Contains(out, "2 problems; nothing was imported") {
		t.Errorf("a bad members file: %d\n%s", code, out)
	}
	members := filepath.Join("../../examples", "society-members.csv")
	out, code = runCLI(t, env, "", "society", "member-import", "-society", "EXAMPLE", members)
	generated := regexp.MustCompile(`(?m)^E-100[12]\s+\S+\s+([2-9a-z]{5}(-[2-9a-z]{5}){3})$`).FindAllStringSubmatch(out, -1)
	if code != 0 || !strings.Contains(out, "3 members: 3 added, 0 updated, 0 unchanged") || len(generated) != 2 || strings.Contains(out, "a long member password") {
		t.Fatalf("member-import: %d\n%s", code, out)
	}
	if out, code = runCLI(t, env, "", "society", "member-import", "-society", "EXAMPLE", members); code != 0 || !strings.Contains(out, "0 added, 0 updated, 3 unchanged") || strings.Contains(out, "PASSWORD") {
		t.Errorf("member-import again: %d\n%s", code, out)
	}

	csv := filepath.Join("../../examples", "society-credits.csv")
	xml := filepath.Join("../../examples", "society-credits.xml")
	out, code = runCLI(t, env, "", "society", "import", "-society", "EXAMPLE", csv, xml)
	for _, want := range []string{
		csv + `:5: credit 3 (member 01234567, 2026-06-11 Musculoskeletal MRI Update): rejected: EXAMPLE has no member "01234567"`,
		csv + ": 3 credits: 2 accepted, 0 present, 1 rejected",
		xml + ": 2 credits: 2 accepted, 0 present, 0 rejected",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("society import: %d, lacks %q\n%s", code, want, out)
		}
	}
	if out, code = runCLI(t, env, "", "society", "import", "-society", "EXAMPLE", xml); code != 0 || !strings.Contains(out, "2 credits: 0 accepted, 2 present, 0 rejected") {
		t.Errorf("society import again: %d\n%s", code, out)
	}
	broken := write("broken.xml", "<CEU_ORDER><STATUS>OK")
	if out, code = runCLI(t, env, "", "society", "import", "-society", "EXAMPLE", broken); code == 0 || !strings.Contains(out, broken+": not a ceu_order document") || !strings.Contains(out, "nothing was imported") {
		t.Errorf("a broken file: %d\n%s", code, out)
	}
}
