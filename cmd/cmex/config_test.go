package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesBadConfiguration: cmex serve checks its configuration
// before it opens anything. Each bad setting exits 2 with a message
// naming the flag, and no database file is created; several at once are
// all named.
func TestServeRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	for _, c := range []struct {
		args []string
		env  []string
		want []string
	}{
		{args: []string{"-addr", "8080"}, want: []string{"-addr", "HOST:PORT"}},
		{args: []string{"-addr", "127.0.0.1:99999"}, want: []string{"-addr", "65535"}},
		{args: []string{"-outbox-lease", "0s"}, want: []string{"-outbox-lease", "positive"}},
		{args: []string{"-outbox-lease", "500ms"}, want: []string{"-outbox-lease", "at least 1s"}},
		{args: []string{"-processsync-window", "-5s"}, want: []string{"-processsync-window"}},
		{args: []string{"-tls-cert", filepath.Join(dir, "missing.pem"), "-tls-key", filepath.Join(dir, "missing.key")}, want: []string{"-tls-cert", "missing.pem"}},
		{args: []string{"-tls-cert", "cert.pem"}, want: []string{"-tls-cert and -tls-key go together"}},
		{args: []string{"-trusted-proxies", "10.0.0.0/33"}, want: []string{"-trusted-proxies"}},
		{args: []string{"-log-level", "loud"}, want: []string{"-log-level"}},
		{args: []string{"-lockout-after", "-1"}, want: []string{"-lockout-after"}},
		{args: []string{"-max-body", "0"}, want: []string{"-max-body"}},
		{args: []string{"-public-url", "cme.example.org"}, want: []string{"-public-url", "absolute"}},
		{args: []string{"-public-url", "ftp://cme.example.org"}, want: []string{"-public-url", "absolute"}},
		{args: []string{"-public-url", "https://cme.example.org/?x=1"}, want: []string{"-public-url", "query"}},
		{args: []string{"-max-hashing", "-1"}, want: []string{"-max-hashing"}},
		{args: []string{"-address-signups", "-1"}, want: []string{"-address-signups"}},
		{env: []string{"CMEX_OUTBOX_ALERT_AFTER=soon"}, want: []string{"CMEX_OUTBOX_ALERT_AFTER"}},
		{args: []string{"-addr", "nowhere", "-outbox-lease", "-1s", "-trusted-proxies", "bogus"}, want: []string{"-addr", "-outbox-lease", "-trusted-proxies"}},
		// PostgreSQL's pool settings mean nothing on SQLite: refused, from
		// the command line or the environment, rather than ignored.
		{args: []string{"-db-max-conns", "5"}, want: []string{"-db-max-conns (CMEX_DB_MAX_CONNS) applies to PostgreSQL only", "sqlite:"}},
		{env: []string{"CMEX_DB_STATEMENT_TIMEOUT=5s"}, want: []string{"-db-statement-timeout (CMEX_DB_STATEMENT_TIMEOUT) applies to PostgreSQL only"}},
		{args: []string{"-db", "postgres://cmex@127.0.0.1:1/cmex", "-db-max-conns", "0"}, want: []string{"-db-max-conns 0", "at least 1"}},
		{args: []string{"-db", "postgres://cmex@127.0.0.1:1/cmex", "-db-max-idle-conns", "30"}, want: []string{"-db-max-idle-conns 30", "more than -db-max-conns 20"}},
		{args: []string{"-db", "postgres://cmex@127.0.0.1:1/cmex", "-db-statement-timeout", "500ms", "-db-conn-max-lifetime", "-1m"},
			want: []string{"-db-statement-timeout 500ms", "at least 1s", "-db-conn-max-lifetime"}},
	} {
		out, code := runCLI(t, append([]string{"CMEX_DB=sqlite:" + db}, c.env...), "", append([]string{"serve"}, c.args...)...)
		if code != 2 {
			t.Errorf("serve %v %v: exit %d, want 2:\n%s", c.args, c.env, code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("serve %v %v: the message does not say %q:\n%s", c.args, c.env, w, out)
			}
		}
		if strings.Count(strings.TrimSpace(out), "\n") > 0 || strings.Contains(out, "goroutine") {
			t.Errorf("serve %v: more than one line of error:\n%s", c.args, out)
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("serve %v created the database despite a bad configuration", c.args)
		}
	}
}
