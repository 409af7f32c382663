package main_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestBackupWhileServing copies the database twice while a client keeps
// adding activities: each copy is whole (it opens, passes its integrity
// check and holds a prefix of what was added), and cmex serves a copy.
func TestBackupWhileServing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "cmex.db")
	env := []string{"CMEX_DB=sqlite:" + db}
	s := startServer(t, env, "-sandbox")
	var added atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Not s.post, which stops the test from this goroutine on an error.
			resp, err := http.Post(s.base+savePath, "application/xml; charset=utf-8",
				bytes.NewReader(submit(activityDoc(t, fmt.Sprintf("bk-%d", i), "Backup Rounds", "Add"), providerA, "2021")))
			if err != nil {
				continue
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(out, []byte("Accepted")) {
				added.Add(1)
			}
		}
	})
	var copies []string
	for i := range 2 {
		for added.Load() < int64(5*(i+1)) {
			time.Sleep(10 * time.Millisecond)
		}
		dest := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
		if out, code := runCLI(t, env, "", "backup", dest); code != 0 || !strings.Contains(out, "backed up") {
			close(stop)
			t.Fatalf("backup: %d %s", code, out)
		}
		copies = append(copies, dest)
	}
	close(stop)
	wg.Wait()
	s.stop()

	if out, code := runCLI(t, env, "", "backup", copies[0]); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("backup over an existing file: %d %s", code, out)
	}
	if out, code := runCLI(t, nil, "", "backup", "-db", "postgres://localhost/cmex", filepath.Join(dir, "pg.db")); code != 2 || !strings.Contains(out, "pg_dump") {
		t.Errorf("backup of PostgreSQL: %d %s", code, out)
	}
	count := func(path string) int {
		d, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM activities WHERE provider_activity_id LIKE 'bk-%'`).Scan(&n); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return n
	}
	first, second, all := count(copies[0]), count(copies[1]), count(db)
	if first < 5 || second < first || all < second || int64(all) != added.Load() {
		t.Errorf("activities: first copy %d, second %d, database %d, acknowledged %d", first, second, all, added.Load())
	}
	for _, c := range copies {
		if _, err := os.Stat(c + ".partial"); err == nil {
			t.Errorf("%s.partial left behind", c)
		}
	}
	// Restore: serve the copy.
	s = startServer(t, []string{"CMEX_DB=sqlite:" + copies[1]})
	s.stop()
}
