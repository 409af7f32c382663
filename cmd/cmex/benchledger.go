package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// The read side of cmex bench: one physician with many credits in a large
// ledger, asked about the way a member-management system (GetRoleData at
// Activity depth) and the physician herself (her gateway transcript) ask.

// The subject of the read measures, and what she is set up with.
const (
	subjectNPI      = "1234567893" // the NPI standard's own example number
	subjectMember   = "BENCH-0001"
	subjectUsername = "bench.subject"
	subjectPassword = "bench subject password"
	subjectSociety  = "BENCH"
	// subjectKey is the Process Synchronization key of the bench's server.
	subjectKey = "cmex-bench-processsync-key"
	// fillFrom numbers the records that fill the ledger, past any the
	// import and the load could have used.
	fillFrom = 100_000_000
)

// subject is the physician the read measures ask about.
type subject struct {
	person  cmex.PersonID
	credits int
}

// setUpSubject gives a registry person credits credits, on as many new
// activities of provider, a Practitioner role under the sandbox's plans,
// and a gateway account bound to a local society whose member she is.
func (b *benchRun) setUpSubject(ctx context.Context, provider string, credits int) (*subject, error) {
	// Her credits are of the workload's year, completed on 3 January; her
	// 3-year cycle began two years before.
	year := workloadYear(time.Now())
	registry := filepath.Join(b.dir, "registry.csv")
	if err := os.WriteFile(registry, []byte("first_name,last_name,birth_date,npi\nSubject,Bench,1970-05-05,"+subjectNPI+"\n"), 0o644); err != nil {
		return nil, err
	}
	acts := filepath.Join(b.dir, "subject-activities.xml")
	plans := filepath.Join(b.dir, "plans.yaml")
	if err := os.WriteFile(plans, sandboxPlans, 0o644); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"import", "-db", b.db, "-progress", "none", registry},
		{"bench", "generate", "-activities", strconv.Itoa(credits), "-year", strconv.Itoa(year), acts},
		{"import", "-db", b.db, "-provider", provider, "-progress", "none", acts},
		{"plans", "load", "-db", b.db, plans},
	}
	for _, s := range steps {
		if _, err := b.cmex("", s...); err != nil {
			return nil, err
		}
	}
	var person cmex.PersonID
	var actIDs []cmex.ActivityID
	err := withDB(ctx, b.db, func(s *sqlstore.DB) error {
		ids, err := sqlstore.NewPlanService(s).PersonsByIdentifier(ctx, subjectNPI)
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("the subject is not in the registry: %v", err)
		}
		person = ids[0]
		as, err := sqlstore.NewActivityService(s).FindActivities(ctx, cmex.ActivityFilter{ProviderID: cmex.ProviderID(provider)})
		for _, a := range as {
			if strings.HasPrefix(a.ProviderActivityID, fmt.Sprintf("bench-%d-", year)) {
				actIDs = append(actIDs, a.ID)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(actIDs) < credits {
		return nil, fmt.Errorf("%d of the subject's %d activities found", len(actIDs), credits)
	}

	// Her credits, one on each activity, matched to her by the registry.
	var csv bytes.Buffer
	csv.WriteString("credit_id,activity_id,completion_date,certification,points,first_name,last_name,birth_date,npi\n")
	for i, id := range actIDs[:credits] {
		fmt.Fprintf(&csv, "ccid:bench.example.org:subject-%d,%s,%d-01-03,AMA PRA Category 1,1.5,Subject,Bench,1970-05-05,%s\n", i, id, year, subjectNPI)
	}
	records := filepath.Join(b.dir, "subject-records.csv")
	if err := os.WriteFile(records, csv.Bytes(), 0o644); err != nil {
		return nil, err
	}
	pid := strconv.FormatInt(int64(person), 10)
	steps = [][]string{
		{"import", "-db", b.db, "-provider", provider, "-matching", "registry", "-progress", "none", records},
		{"roles", "add", "-db", b.db, "-person", pid, "-role", "Practitioner", "-label", "Internal Medicine", "-status", "Member-Active", "-granted", "-begin", fmt.Sprintf("%d-01-01", year-2)},
		{"society", "add", "-db", b.db, "-code", subjectSociety, "-name", "cmex benchmark society"},
	}
	for _, s := range steps {
		if _, err := b.cmex("", s...); err != nil {
			return nil, err
		}
	}
	withPassword := [][]string{
		{"society", "member-add", "-db", b.db, "-society", subjectSociety, "-member-id", subjectMember, "-username", subjectUsername, "-given", "Subject", "-family", "Bench", "-person", pid},
		{"account", "add", "-db", b.db, "-username", subjectUsername, "-given", "Subject", "-family", "Bench"},
		{"account", "bind", "-db", b.db, "-username", subjectUsername, "-society", subjectSociety, "-society-username", subjectUsername},
	}
	for _, s := range withPassword {
		if _, err := b.cmex(subjectPassword+"\n", s...); err != nil {
			return nil, err
		}
	}
	var held int
	err = withDB(ctx, b.db, func(s *sqlstore.DB) error {
		return sqlstore.NewLearnerService(s, cmex.MatchRegistry).EachLearnerRecord(ctx, sqlstore.RecordQuery{Person: person}, func(*cmex.LearnerRecord) error {
			held++
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if held != credits {
		return nil, fmt.Errorf("the subject holds %d of her %d credits: see %s", held, credits, records)
	}
	return &subject{person: person, credits: credits}, nil
}

// fillLedger adds passthrough learner records on acts until the ledger
// holds n, in import-sized transactions, and returns how many it holds.
func (b *benchRun) fillLedger(ctx context.Context, provider string, acts []cmex.ActivityID, n int) (int, error) {
	var held int
	err := withDB(ctx, b.db, func(s *sqlstore.DB) error {
		if err := s.SQL().QueryRowContext(ctx, `SELECT count(*) FROM learner_records`).Scan(&held); err != nil {
			return err
		}
		org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, cmex.ProviderID(provider))
		if err != nil {
			return err
		}
		by := cmex.Principal{Organization: *org, User: cmex.WebServiceUser{OrganizationID: org.ID, Username: "bench"}}
		learners := sqlstore.NewLearnerService(s, cmex.MatchPassthrough)
		last := time.Now()
		for i := fillFrom; held < n; {
			k := min(importBatch, n-held)
			chs := make([]cmex.LearnerChange, k)
			for j := range chs {
				chs[j] = cmex.LearnerChange{Report: workloadReport(i+j, cmex.ProviderID(provider), acts, workloadYear(time.Now())), By: by, Source: "bench"}
			}
			res, err := learners.ImportLearnerReports(ctx, chs)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Outcome == cmex.OutcomeRejected {
					return fmt.Errorf("a filling record was rejected: %v", r.Problems)
				}
				held += len(r.Records)
			}
			i += k
			if time.Since(last) > 5*time.Second {
				fmt.Fprintf(b.e.stderr, "cmex bench: ledger at %d of %d records\n", held, n)
				last = time.Now()
			}
		}
		return nil
	})
	return held, err
}

// benchTokenWindow is the Process Synchronization window of the bench's
// server.
const benchTokenWindow = 24 * time.Hour

// measureReads runs GetRoleData and transcript calls for the subject, each
// from clients clients for d, client c asking bases[c % len(bases)], and
// adds their figures to the table, each name followed by on.
func measureReads(bases []string, on string, sub *subject, clients int, d time.Duration, add func(k, v string)) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	tokens := newTokenSeconds(benchTokenWindow)
	roleData := func(base string, check bool) error {
		req, err := roleDataRequest(base, tokens)
		if err != nil {
			return err
		}
		out, err := call(hc, req)
		if err != nil {
			return err
		}
		if !bytes.Contains(out, []byte("Success>0<")) {
			return fmt.Errorf("GetRoleData did not succeed: %.300s", out)
		}
		if n := bytes.Count(out, []byte("<a:ActivityTitle>")); check && n < sub.credits {
			return fmt.Errorf("GetRoleData at Activity depth lists %d activities, want %d", n, sub.credits)
		}
		return nil
	}
	transcript := func(base string, check bool) error {
		out, err := call(hc, transcriptRequest(base))
		if err != nil || !check {
			return err
		}
		var t cmex.Transcript
		if err := json.Unmarshal(out, &t); err != nil {
			return fmt.Errorf("transcript: %v: %.300s", err, out)
		}
		if n := len(t.Credits); n < sub.credits {
			return fmt.Errorf("the transcript holds %d credits, want %d: %.300s", len(t.Credits), sub.credits, out)
		}
		return nil
	}
	for _, m := range []struct {
		name string
		do   func(string, bool) error
	}{
		{fmt.Sprintf("GetRoleData, Activity depth, %d activities", sub.credits), roleData},
		{fmt.Sprintf("transcript of %d credits", sub.credits), transcript},
	} {
		// The first call to each replica checks the answer holds every
		// credit, and warms the password check the transcript's login
		// makes.
		for _, base := range bases {
			if err := m.do(base, true); err != nil {
				return err
			}
		}
		lat, fails, err := closedLoop(clients, d, func(c int) error { return m.do(bases[c%len(bases)], false) })
		if err != nil {
			return err
		}
		add(fmt.Sprintf("%s, %d clients%s", m.name, clients, on), fmt.Sprintf("p50 %s, p99 %s (%.0f requests/s, %d failed)",
			pct(lat, 50), pct(lat, 99), float64(len(lat))/d.Seconds(), fails))
	}
	return nil
}

// tokenSeconds hands out the seconds GetRoleData calls sign: each its
// own, counting down from the far end of the server's window, since a
// token is single-use.
type tokenSeconds struct {
	window time.Duration
	latest time.Time
	n      atomic.Int64
}

func newTokenSeconds(window time.Duration) *tokenSeconds {
	return &tokenSeconds{window: window, latest: time.Now().Add(window / 2)}
}

func (t *tokenSeconds) next() (string, error) {
	i := t.n.Add(1)
	if time.Duration(i)*time.Second >= t.window {
		return "", fmt.Errorf("GetRoleData: %d calls used up the %v token window", i, t.window)
	}
	return processsync.TimeStamp(t.latest.Add(-time.Duration(i) * time.Second)), nil
}

// roleDataRequest asks GetRoleData, at Activity depth, where the subject
// stands as a Practitioner.
func roleDataRequest(base string, tokens *tokenSeconds) (*http.Request, error) {
	ts, err := tokens.next()
	if err != nil {
		return nil, err
	}
	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetRoleData xmlns="` + processsync.NSTempuri + `">` +
		`<Version>` + processsync.Version + `</Version><TimeStamp>` + ts + `</TimeStamp><Role>Practitioner</Role><UniqueId>` + subjectNPI + `</UniqueId>` +
		`<RequestDepth>Activity</RequestDepth><RequestType>Summary</RequestType><Token>` + processsync.Token(subjectNPI, ts, subjectKey) + `</Token></GetRoleData></s:Body></s:Envelope>`
	req, _ := http.NewRequest(http.MethodPost, base+processsync.Path, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+processsync.SOAPAction+`"`)
	return req, nil
}

// transcriptRequest asks for the subject's gateway transcript.
func transcriptRequest(base string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/account/transcript", nil)
	req.SetBasicAuth(subjectUsername, subjectPassword)
	return req
}

// call sends req and returns the body of a 200 answer.
func call(hc *http.Client, req *http.Request) ([]byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %.300s", req.Method, req.URL.Path, resp.Status, out)
	}
	return out, nil
}

// closedLoop runs clients that each call do (with their number, from 0)
// back to back for d, and returns the latencies of the calls that
// succeeded and how many failed; it fails when none succeeded.
func closedLoop(clients int, d time.Duration, do func(client int) error) ([]time.Duration, int, error) {
	return pacedLoop(clients, d, 0, do)
}
