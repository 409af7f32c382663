package main_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	learnerNS       = "http://schemas.datacontract.org/2004/07/ACCMEDataServices.ServiceObjects"
	saveLearnerPath = "/services/ACCMELearnerService.svc/IACCMELearnerServiceREST/SaveLearnerActivity"
	byLearnerPath   = "/services/ACCMELearnerService.svc/IACCMELearnerServiceREST/GetLearnerStatusByLearner"
	byCreditPath    = "/services/ACCMELearnerService.svc/IACCMELearnerServiceREST/GetLearnerStatusByCreditId"
	matchPath       = "/services/LearnerMatchService.svc/ILearnerMatchServiceREST/GetLearnerMatch"
)

// dates are an activity running around today, so the test passes whatever
// the day it runs.
type dates struct{ start, end, completed, before string }

func around(now time.Time) dates {
	f := func(t time.Time) string { return t.Format("2006-01-02") }
	return dates{f(now.AddDate(0, 0, -40)), f(now.AddDate(0, 0, 40)), f(now.AddDate(0, 0, -1)), f(now.AddDate(0, 0, -41))}
}

// mocActivity is an ABIM-registered activity (Medical Knowledge, Patient
// Safety, 2 points) of provider 1234567.
func mocActivity(d dates, id string) string {
	return `<accme:ACCMEActivities xmlns="http://ns.medbiq.org/metrics/v2/" xmlns:accme="http://docs.accme.org/schemas/ACCMEActivities/v3/" xmlns:ex="http://www.accme.org/ACCMEActivityExtension/v3" xmlns:lom="http://ltsc.ieee.org/xsd/LOM" xmlns:hx="http://ns.medbiq.org/lom/extend/v1/"><MedicalEducationMetrics>` +
		`<ReportDescription><ReportingStartDate>` + d.start[:4] + `</ReportingStartDate><ReportingEndDate>` + d.start[:4] + `</ReportingEndDate></ReportDescription>` +
		`<ActivityDescription><lom:lom><lom:general><lom:identifier><lom:catalog>Provider Activity ID</lom:catalog><lom:entry>` + id + `</lom:entry></lom:identifier><lom:title><lom:string>Internal Medicine Update</lom:string></lom:title></lom:general>` +
		`<hx:healthcareMetadata><hx:healthcareEducation><hx:credits><hx:activityCertification>AMA PRA Category 1</hx:activityCertification><hx:numberOfCredits>2</hx:numberOfCredits></hx:credits>` +
		`<hx:targetAudience><hx:specialty><lom:string>Internal Medicine</lom:string></hx:specialty></hx:targetAudience>` +
		`<hx:startDateTime>` + d.start + `</hx:startDateTime><hx:endDateTime>` + d.end + `</hx:endDateTime><hx:activitySponsorship>direct</hx:activitySponsorship><hx:activityFormat><lom:string>Enduring Material</lom:string></hx:activityFormat></hx:healthcareEducation></hx:healthcareMetadata></lom:lom></ActivityDescription>` +
		`<XtensibleInfo><ex:MOCRegistrations><ex:MOCRegistration><ex:boardName>ABIM</ex:boardName><ex:mocPoints>2</ex:mocPoints><ex:MOCCreditType>Medical Knowledge</ex:MOCCreditType><ex:MOCCreditType>Patient Safety</ex:MOCCreditType></ex:MOCRegistration></ex:MOCRegistrations>` +
		`<ex:activityRecordAction>Add</ex:activityRecordAction></XtensibleInfo></MedicalEducationMetrics></accme:ACCMEActivities>`
}

type learner struct {
	given, family, birth string
	ids                  [][2]string
}

var (
	jane  = learner{"Jane", "ACCME", "1904-10-30", [][2]string{{"ME", "MD999902"}, {"ABIM", "999902"}}}
	riley = learner{"Riley", "Rejected", "1975-05-05", [][2]string{{"ABIM", "999990"}}}
)

type credit struct{ cert, points, id string }

func learnerDoc(l learner, activity, completed, action string, credits ...credit) string {
	var ids, certs strings.Builder
	for _, u := range l.ids {
		fmt.Fprintf(&ids, `<m:UniqueID domain="%s">%s</m:UniqueID>`, u[0], u[1])
	}
	for _, c := range credits {
		fmt.Fprintf(&certs, `<ar:CreditCertificate><ar:CreditReceived><hx:activityCertification>%s</hx:activityCertification><hx:creditUnit>Point</hx:creditUnit><hx:numberOfCredits>%s</hx:numberOfCredits></ar:CreditReceived><ar:CreditID>%s</ar:CreditID></ar:CreditCertificate>`, c.cert, c.points, c.id)
	}
	return `<accme:ACCMELearnerReports xmlns:accme="http://docs.accme.org/schemas/ACCMELearnerReports/v3/" xmlns:ex="http://docs.accme.org/schemas/ACCMELearnerReportExtension/v3/" xmlns:ar="http://ns.medbiq.org/activityreport/v2/" xmlns:m="http://ns.medbiq.org/member/v2/" xmlns:n="http://ns.medbiq.org/name/v2/" xmlns:hx="http://ns.medbiq.org/lom/extend/v1/"><ar:ActivityReports><ar:ActivityReport>` +
		`<ar:ReportingOrganization>AAA Test Organization</ar:ReportingOrganization><ar:Member>` + ids.String() +
		`<m:Name><n:GivenName>` + l.given + `</n:GivenName><n:FamilyName>` + l.family + `</n:FamilyName></m:Name><m:PersonalInfo><m:BirthDate>` + l.birth + `</m:BirthDate></m:PersonalInfo></ar:Member>` +
		`<ar:Activity><ar:ProviderOrganization>1234567</ar:ProviderOrganization><ar:ActivityName>` + activity + `</ar:ActivityName><ar:Module><ar:ModuleName moduleID="` + activity + `">Internal Medicine Update</ar:ModuleName><ar:Status>Completed</ar:Status><ar:CompletedDateTime>` + completed + `</ar:CompletedDateTime>` + certs.String() +
		`</ar:Module></ar:Activity><ar:XtensibleInfo><ex:learnerRecordAction>` + action + `</ex:learnerRecordAction></ar:XtensibleInfo></ar:ActivityReport></ar:ActivityReports></accme:ACCMELearnerReports>`
}

func learnerSubmit(doc string, c creds) []byte {
	var b bytes.Buffer
	b.WriteString(`<SubmitMessage xmlns="` + learnerNS + `"><Data>`)
	xml.EscapeText(&b, []byte(doc))
	b.WriteString(`</Data><Password>` + c.password + `</Password><ProviderId>` + c.provider + `</ProviderId><User>` + c.user + `</User></SubmitMessage>`)
	return b.Bytes()
}

func statusByCredit(id string, c creds) []byte {
	return []byte(`<LearnerStatusSearchByCreditId xmlns="` + learnerNS + `"><CreditId>` + id + `</CreditId><Password>` + c.password + `</Password><ProviderId>` + c.provider + `</ProviderId><User>` + c.user + `</User></LearnerStatusSearchByCreditId>`)
}

func statusByLearner(activity, completed string, c creds) []byte {
	return []byte(`<LearnerStatusSearchByLearner xmlns="` + learnerNS + `"><ActivityId>` + activity + `</ActivityId><BirthDay>30</BirthDay><BirthMonth>10</BirthMonth><CompletionDate>` + completed +
		`</CompletionDate><Password>` + c.password + `</Password><ProviderId>` + c.provider + `</ProviderId><UniqueId>999902</UniqueId><User>` + c.user + `</User></LearnerStatusSearchByLearner>`)
}

// statusArray is an ArrayOfResponseMessage.
type statusArray struct {
	Messages []struct {
		Data          string `xml:"Data"`
		StatusCode    string `xml:"StatusCode"`
		ErrorMessages []struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"ErrorMessages>ErrorMessage"`
	} `xml:"ResponseMessage"`
}

func (s *server) status(path string, body []byte) statusArray {
	s.t.Helper()
	res, err := http.Post(s.base+path, "application/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var a statusArray
	if err := xml.NewDecoder(res.Body).Decode(&a); err != nil {
		s.t.Fatalf("%s: %v", path, err)
	}
	return a
}

var detailedStatus = regexp.MustCompile(`Status: (\w+)`)

// waitFor polls a status query until its (first) record shows want, and
// records every status seen on the way.
func (s *server) waitFor(path string, body []byte, match string, want string, seen map[string]bool) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.status(path, body).Messages {
			if !strings.Contains(m.Data, match) {
				continue
			}
			st := detailedStatus.FindStringSubmatch(m.Data)
			if st == nil {
				s.t.Fatalf("no status in %q", m.Data)
			}
			seen[st[1]+"/"+m.StatusCode] = true
			if st[1] == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s never showed %s for %s (saw %v)", path, want, match, seen)
}

func TestEndToEndLearners(t *testing.T) {
	s := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}, "-sandbox", "-sandbox-board-delay", "400ms")
	d := around(time.Now())

	r := s.post(savePath, submit(mocActivity(d, "moc-e2e"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the MOC activity: %+v", r)
	}
	act := activityID(t, r)

	// Learner match, as the seed's example.
	if r := s.postRaw(matchPath, []byte(`<LearnerMatchRequest xmlns="`+learnerNS+`"><BirthDay>26</BirthDay><BirthMonth>9</BirthMonth><FirstName>Helen</FirstName><LastName>Markman</LastName><Npi>1234567890</Npi><Password>sandbox</Password><User>webserviceuser@yourdomain.org</User></LearnerMatchRequest>`)); !strings.Contains(r, "<MatchedLearnerCount>1</MatchedLearnerCount>") {
		t.Fatalf("learner match: %s", r)
	}

	// Jane's completion: accepted.
	janeCredits := []credit{{"AMA PRA Category 1", "2", "ccid:e2e:1"}, {"ABIM Medical Knowledge", "1.5", "ccid:e2e:2"}, {"ABIM Patient Safety", "1.5", "ccid:e2e:3"}}
	r = s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, d.completed, "add", janeCredits...), providerA))
	if r.StatusCode != "Accepted" || len(r.ErrorMessages) != 0 {
		t.Fatalf("Jane's completion: %+v", r)
	}

	// Submitted, then Approved, through both status calls.
	seen := map[string]bool{}
	s.waitFor(byCreditPath, statusByCredit("ccid:e2e:2", providerA), "ccid:e2e:2", "Submitted", seen)
	s.waitFor(byLearnerPath, statusByLearner(act, d.completed, providerA), "ccid:e2e:2", "Submitted", seen)
	s.waitFor(byCreditPath, statusByCredit("ccid:e2e:2", providerA), "ccid:e2e:2", "Approved", seen)
	s.waitFor(byLearnerPath, statusByLearner(act, d.completed, providerA), "ccid:e2e:2", "Approved", seen)
	if !seen["Submitted/Pending"] || !seen["Approved/Accepted"] {
		t.Errorf("statuses seen: %v", seen)
	}
	all := s.status(byLearnerPath, statusByLearner(act, d.completed, providerA))
	if len(all.Messages) != 3 {
		t.Errorf("by learner: %d records, want 3", len(all.Messages))
	}
	for _, m := range all.Messages {
		if strings.Contains(m.Data, "ccid:e2e:1") && (m.StatusCode != "Accepted" || !strings.Contains(m.Data, "Status: Accepted")) {
			t.Errorf("the AMA credit went to a board: %+v", m)
		}
	}

	// Rejections: a duplicate CreditID, a bad MOC increment, a name
	// mismatch, a completion before the activity's start.
	for _, tc := range []struct {
		name, code string
		doc        string
	}{
		{"duplicate CreditID", "603", learnerDoc(jane, act, d.completed, "add", credit{"AMA PRA Category 1", "1", "ccid:e2e:1"})},
		{"MOC increment", "675", learnerDoc(jane, act, d.before[:8]+"01", "add", credit{"ABIM Medical Knowledge", "0.3", "ccid:e2e:4"})},
		{"name mismatch", "665", learnerDoc(learner{"Janet", "ACCME", "1904-10-30", jane.ids}, act, d.completed, "add", credit{"ABIM Medical Knowledge", "0.25", "ccid:e2e:5"})},
		{"before the start", "672", learnerDoc(jane, act, d.before, "add", credit{"ABIM Medical Knowledge", "0.25", "ccid:e2e:6"})},
	} {
		r := s.post(saveLearnerPath, learnerSubmit(tc.doc, providerA))
		if r.StatusCode != "Rejected" || !r.has(tc.code) {
			t.Errorf("%s: want %s, got %v", tc.name, tc.code, r.codes())
		}
	}

	// Delete by CreditID, and add again.
	r = s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, d.completed, "delete", janeCredits[2]), providerA))
	if r.StatusCode != "Accepted" {
		t.Fatalf("delete: %+v", r)
	}
	if a := s.status(byCreditPath, statusByCredit("ccid:e2e:3", providerA)); len(a.Messages) != 1 || a.Messages[0].ErrorMessages[0].Code != "605" {
		t.Errorf("status of a deleted record: %+v", a)
	}
	r = s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, d.completed, "add", janeCredits[2]), providerA))
	if r.StatusCode != "Accepted" {
		t.Fatalf("re-add: %+v", r)
	}

	// Riley is rejected by the board, with its reason.
	r = s.post(saveLearnerPath, learnerSubmit(learnerDoc(riley, act, d.completed, "add", credit{"ABIM Medical Knowledge", "1", "ccid:e2e:riley"}), providerA))
	if r.StatusCode != "Accepted" {
		t.Fatalf("Riley: %+v", r)
	}
	s.waitFor(byCreditPath, statusByCredit("ccid:e2e:riley", providerA), "ccid:e2e:riley", "Rejected", seen)
	rej := s.status(byCreditPath, statusByCredit("ccid:e2e:riley", providerA)).Messages[0]
	if rej.StatusCode != "Rejected" || len(rej.ErrorMessages) != 1 || rej.ErrorMessages[0].Code != "661" || !strings.Contains(rej.Data, "Reason: Diplomate ID not found") {
		t.Errorf("Riley's rejection: %+v", rej)
	}

	// Another provider sees none of it.
	if a := s.status(byCreditPath, statusByCredit("ccid:e2e:2", providerB)); a.Messages[0].StatusCode != "Rejected" || a.Messages[0].ErrorMessages[0].Code != "605" {
		t.Errorf("provider B reads A's record: %+v", a)
	}

	// The JSON API sees the same records.
	req, _ := http.NewRequest("GET", s.base+"/api/v1/learner-records/ccid:e2e:2", nil)
	req.SetBasicAuth(providerA.user, providerA.password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Records []struct {
			Status  string
			History []struct{ Status, Source string }
		}
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || len(body.Records) != 1 || body.Records[0].Status != "Approved" || len(body.Records[0].History) != 3 ||
		body.Records[0].History[1].Source != "board:ABIM (sandbox)" {
		t.Errorf("JSON API: %d %+v", res.StatusCode, body)
	}
	s.stop()
}

// TestPassthroughMatching: a server that leaves identity to the registry
// downstream accepts a learner its own registry does not know.
func TestPassthroughMatching(t *testing.T) {
	s := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}, "-sandbox", "-matching", "passthrough")
	d := around(time.Now())
	act := activityID(t, s.post(savePath, submit(mocActivity(d, "moc-pass"), providerA, d.start[:4])))
	stranger := learner{"Ada", "Unknown", "1960-01-01", [][2]string{{"ABIM", "123123"}}}
	r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(stranger, act, d.completed, "add", credit{"ABIM Medical Knowledge", "1", "ccid:pass:1"}), providerA))
	if r.StatusCode != "Accepted" {
		t.Fatalf("passthrough: %+v", r)
	}
	bad := learner{"Ada", "Unknown", "1960-02-31", [][2]string{{"ZZ", "1"}}}
	if r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(bad, act, d.completed, "add", credit{"AMA PRA Category 1", "1", "ccid:pass:2"}), providerA)); !r.has("719") || !r.has("721") {
		t.Errorf("passthrough still checks form: %v", r.codes())
	}
	s.stop()
}

func (s *server) postRaw(path string, body []byte) string {
	s.t.Helper()
	res, err := http.Post(s.base+path, "application/xml; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return b.String()
}
