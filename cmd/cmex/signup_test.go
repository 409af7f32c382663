package main_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// procStatus reads a field of /proc/PID/status in kB (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestSignUpFlood fires 200 sign-ups at once at the public POST
// /api/v1/accounts (issue 16), each from its own address (the server
// believes X-Forwarded-For from 127.0.0.1, so the per-address sign-up
// limit does not refuse them): each costs an argon2id hash of 19 MiB,
// which without a bound on concurrent hashing took the server past
// 2.7 GB. Peak RSS (VmHWM) must stay under 300 MB, /readyz must answer
// ready throughout and afterwards, and every answer must be a sign-up
// taken (202) or a refusal to wait (429 or 503, with Retry-After),
// never another 5xx.
func TestSignUpFlood(t *testing.T) {
	const n = 200
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-trusted-proxies", "127.0.0.1")
	pid := s.cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")

	// Readiness, asked every 100 ms while the sign-ups run.
	stop := make(chan struct{})
	var notReady atomic.Int64
	var readyErr atomic.Value
	var probes sync.WaitGroup
	probes.Go(func() {
		c := &http.Client{Timeout: 3 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := c.Get(s.base + "/readyz")
			if err != nil {
				notReady.Add(1)
				readyErr.Store(err.Error())
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ready"`) {
				notReady.Add(1)
				readyErr.Store(fmt.Sprintf("%d %s", resp.StatusCode, b))
			}
		}
	})

	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	byStatus := map[int]int{}
	var bad []string
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Go(func() {
			body, _ := json.Marshal(map[string]string{"username": fmt.Sprintf("flood-%03d", i), "password": "Flood-Sign-Up-Pa55-" + strconv.Itoa(i),
				"givenName": "Flo", "familyName": fmt.Sprintf("Od%d", i)})
			req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/accounts", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", i/250, 1+i%250))
			<-start
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				bad = append(bad, err.Error())
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			byStatus[resp.StatusCode]++
			switch resp.StatusCode {
			case http.StatusAccepted:
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				if resp.Header.Get("Retry-After") == "" {
					bad = append(bad, fmt.Sprintf("%d without Retry-After: %.200s", resp.StatusCode, b))
				}
			default:
				bad = append(bad, fmt.Sprintf("%d: %.200s", resp.StatusCode, b))
			}
		})
	}
	// Peak and current RSS, sampled while the sign-ups run.
	var peak int64
	var samples sync.WaitGroup
	sampleStop := make(chan struct{})
	samples.Go(func() {
		for {
			peak = max(peak, procStatus(t, pid, "VmRSS"))
			select {
			case <-sampleStop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(sampleStop)
	samples.Wait()
	time.Sleep(300 * time.Millisecond) // a few probes after the flood
	close(stop)
	probes.Wait()

	hwm := procStatus(t, pid, "VmHWM")
	t.Logf("%d sign-ups in %v: answers %v; RSS %d MB before, %d MB sampled peak, VmHWM %d MB", n, took.Round(time.Millisecond), byStatus,
		before/1024, peak/1024, hwm/1024)
	for _, b := range bad {
		t.Error(b)
	}
	if hwm >= 300*1024 {
		t.Errorf("peak RSS (VmHWM) %d MB, want under 300 MB", hwm/1024)
	}
	if k := notReady.Load(); k > 0 {
		t.Errorf("/readyz was not ready %d times during the flood; last: %v", k, readyErr.Load())
	}
	if byStatus[http.StatusAccepted] == 0 {
		t.Errorf("no sign-up was taken: %v", byStatus)
	}
	resp, err := http.Get(s.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ready"`) {
		t.Errorf("/readyz after the flood: %d %s", resp.StatusCode, b)
	}
}

// TestSignUpLimits: POST /api/v1/accounts answers a sandbox staff
// member's username, a physician's and a free one alike (202, the same
// message), and one address may sign up -address-signups times, then
// gets 429 with Retry-After (issue 16).
func TestSignUpLimits(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-address-signups", "4")
	signUp := func(username string) (int, http.Header, map[string]any) {
		body, _ := json.Marshal(map[string]string{"username": username, "password": "a long password", "givenName": "A", "familyName": "B"})
		resp, err := http.Post(s.base+"/api/v1/accounts", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, resp.Header, out
	}
	var messages []any
	for _, name := range []string{"free.name", "aaa.staff", "jane.accme", "another.free"} {
		code, _, body := signUp(name)
		if code != http.StatusAccepted {
			t.Errorf("sign up as %s: %d %v", name, code, body)
		}
		messages = append(messages, body["message"])
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("the answers differ: %q", messages)
			break
		}
	}
	code, hd, body := signUp("one.too.many")
	if errBody, _ := body["error"].(map[string]any); code != http.StatusTooManyRequests || hd.Get("Retry-After") == "" || errBody["code"] != "too_many_attempts" {
		t.Errorf("fifth sign-up from one address: %d Retry-After %q %v", code, hd.Get("Retry-After"), body)
	}
}
