package pars

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// Forwarder sends activities and learner records to an upstream PARS: the
// ACCME's, its sandbox, or another cmex. The destination's URL is the
// activity service's host (https://pars.accme.org); learner records go to
// Settings.LearnerURL when set (https://parsii.accme.org), else the same
// host. The stored payload is the ACCME document; the envelope with the
// credentials is made when sending, so no password is stored in clear.
// Every request carries the upstream password, so a URL over plain http://
// is not called unless PlainHTTP is set (-allow-private-destinations, for a
// local test upstream): nothing here makes http:// safe.
type Forwarder struct {
	Client *http.Client
	// PlainHTTP lets requests with the password go over http://.
	PlainHTTP bool
	// RemoteID looks up the upstream ACCME Activity ID an activity got
	// when it was delivered to a destination.
	RemoteID func(ctx context.Context, d cmex.DestinationID, activity cmex.ActivityID) (string, bool, error)
	// Now reads a Retry-After date when the answer has no Date header;
	// time.Now if nil.
	Now func() time.Time
}

// Encode implements outbox.Forwarder.
func (f *Forwarder) Encode(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) ([]byte, error) {
	switch dl.Subject {
	case cmex.SubjectActivity:
		var a cmex.Activity
		if err := json.Unmarshal(dl.Snapshot, &a); err != nil {
			return nil, err
		}
		// Upstream assigns its own ACCME Activity ID; the Provider Activity
		// ID names the activity until it has.
		a.ID = 0
		if dl.Event != "add" {
			id, err := f.upstreamActivity(ctx, d, dl.ActivityID)
			if err != nil && !errors.Is(err, cmex.ErrNotReady) {
				return nil, err
			}
			a.ID = id
		}
		action := map[string]string{"add": "Add", "update": "Update", "delete": "Delete"}[dl.Event]
		return []byte(encodeActivities([]*cmex.Activity{&a}, encodeOptions{action: action, close: a.Closed})), nil
	case cmex.SubjectLearnerRecord:
		var snap cmex.LearnerSnapshot
		if err := json.Unmarshal(dl.Snapshot, &snap); err != nil || snap.Record == nil {
			return nil, fmt.Errorf("the stored learner record is not readable")
		}
		activity := snap.Record.ActivityID
		if d.Routing.Activities {
			// The activity was forwarded too: report under its upstream id.
			id, err := f.upstreamActivity(ctx, d, activity)
			if err != nil {
				return nil, err
			}
			activity = id
		}
		return []byte(encodeLearnerReport(snap.Record, activity, d.Settings.ProviderID, dl.Event)), nil
	}
	return nil, fmt.Errorf("PARS takes activities and learner records, not %s", dl.Subject)
}

func (f *Forwarder) upstreamActivity(ctx context.Context, d *cmex.Destination, local cmex.ActivityID) (cmex.ActivityID, error) {
	if f.RemoteID == nil {
		return 0, cmex.ErrNotReady
	}
	s, ok, err := f.RemoteID(ctx, d.ID, local)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("activity %s is not registered upstream yet: %w", local, cmex.ErrNotReady)
	}
	id, err := cmex.ParseActivityID(s)
	if err != nil {
		return 0, fmt.Errorf("the upstream activity id %q: %w", s, err)
	}
	return id, nil
}

// encodeLearnerReport writes one learner record as an ACCMELearnerReports
// document with one ActivityReport and one CreditCertificate.
func encodeLearnerReport(r *cmex.LearnerRecord, activity cmex.ActivityID, provider cmex.ProviderID, event string) string {
	w := &xw{}
	w.start("accme:ACCMELearnerReports", learnerFileNamespaces...)
	w.start("ar:ActivityReports")
	rep := RecordReport(r, provider)
	rep.ActivityID, rep.Action = activity, event
	// PARS defines no OCI ID domain (cmex's own, for CMaRS) and would refuse
	// the record for it (712): an upstream PARS is sent the others.
	rep.Learner.UniqueIDs = slices.DeleteFunc(slices.Clone(rep.Learner.UniqueIDs), func(u cmex.UniqueID) bool {
		kind, _ := cmex.IdentifierKind(u.Domain)
		return kind == cmex.KindOCI
	})
	writeActivityReport(w, rep)
	w.end("ar:ActivityReports")
	w.end("accme:ACCMELearnerReports")
	return w.b.String()
}

func orDefault(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// Send implements outbox.Forwarder.
func (f *Forwarder) Send(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, payload []byte) cmex.Outcome {
	base, path, ns := d.URL, PathSaveActivity, NSService
	var year string
	if dl.Subject == cmex.SubjectLearnerRecord {
		path, ns = PathSaveLearnerActivity, NSLearnerService
		if d.Settings.LearnerURL != "" {
			base = d.Settings.LearnerURL
		}
	} else {
		var a cmex.Activity
		if err := json.Unmarshal(dl.Snapshot, &a); err == nil && !a.ReportingStart.IsZero() {
			year = fmt.Sprint(a.ReportingStart.Year)
		}
	}
	// The members in WCF's ordinal order (specs/pars.md 1.3).
	var b bytes.Buffer
	b.WriteString(xml.Header + `<SubmitMessage xmlns="` + ns + `"><Data>`)
	escapeText(&b, string(payload))
	b.WriteString(`</Data><Password>`)
	escapeText(&b, d.Secrets.Password)
	b.WriteString(`</Password><ProviderId>` + string(d.Settings.ProviderID) + `</ProviderId>`)
	if year != "" {
		b.WriteString(`<ReportingYear>` + year + `</ReportingYear>`)
	}
	b.WriteString(`<User>`)
	escapeText(&b, d.Secrets.Username)
	b.WriteString(`</User></SubmitMessage>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, &b)
	if err != nil {
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the PARS URL is not usable"}
	}
	if !f.secure(req) {
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: errPlainHTTP}
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return cmex.Unanswered(ctx, "PARS", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	return judgePARS(res.StatusCode, body, dl).WithRetryAfter(res.Header.Get("Retry-After"), res.Header.Get("Date"), f.now())
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// errPlainHTTP is why a request to an http:// PARS URL was not sent.
const errPlainHTTP = "PARS was not called: its URL is plain http, which would send the upstream password in clear; use https"

// secure reports whether req may carry the upstream password.
func (f *Forwarder) secure(req *http.Request) bool {
	return req.URL.Scheme == "https" || f.PlainHTTP
}

// remoteCodes keeps PARS's ErrorMessages as codes, cut to size.
func remoteCodes(r upstreamResponse) []cmex.RemoteCode {
	var codes []cmex.RemoteCode
	for _, e := range r.ErrorMessages {
		codes = append(codes, cmex.RemoteCode{Code: cmex.RemoteText(e.Code, 16), Message: cmex.RemoteText(e.Message, cmex.MaxRemoteText)})
	}
	return codes
}

// upstreamResponse is a PARS ResponseMessage.
type upstreamResponse struct {
	Data          string `xml:"Data"`
	StatusCode    string `xml:"StatusCode"`
	ErrorMessages []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"ErrorMessages>ErrorMessage"`
}

// duplicateCodes are PARS's answers to a record it already has: on a
// retry they mean the earlier attempt arrived.
var duplicateCodes = map[string]bool{"603": true, "476": true}

// judgePARS turns PARS's answer into an outcome: Accepted is delivered;
// Rejected is a permanent refusal with PARS's codes, unless every code
// says the record is already there; anything unreadable is retried. Only
// a ResponseMessage's codes and messages are kept, cut to size; of any
// other answer, only its HTTP status.
func judgePARS(status int, body []byte, dl *cmex.Delivery) cmex.Outcome {
	var r upstreamResponse
	if err := xml.Unmarshal(body, &r); err != nil || r.StatusCode == "" {
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
			return cmex.Outcome{Result: cmex.DeliveryRejected, Error: fmt.Sprintf("PARS answered HTTP %d", status)}
		}
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: fmt.Sprintf("PARS answered HTTP %d without a ResponseMessage", status)}
	}
	dup := len(r.ErrorMessages) > 0
	for _, e := range r.ErrorMessages {
		if !strings.HasPrefix(e.Message, "Warning:") {
			dup = dup && duplicateCodes[e.Code]
		}
	}
	o := cmex.Outcome{Codes: remoteCodes(r)}
	switch {
	case r.StatusCode == "Accepted" || r.StatusCode == "Rejected" && dup:
		o.Result = cmex.DeliveryDelivered
	case r.StatusCode == "Rejected":
		o.Result, o.Error = cmex.DeliveryRejected, "PARS rejected it"
		if dl.Subject == cmex.SubjectLearnerRecord {
			o.Status = cmex.StatusRejected
		}
		return o
	default:
		if r.StatusCode == "Pending" {
			return cmex.Outcome{Result: cmex.DeliveryPending, Error: "PARS answered status Pending"}
		}
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: "PARS answered a StatusCode that is neither Accepted nor Rejected"}
	}
	if dl.Subject == cmex.SubjectActivity && r.Data != "" {
		o.RemoteID = assignedActivityID(r.Data)
	}
	if dl.Subject == cmex.SubjectLearnerRecord {
		var snap cmex.LearnerSnapshot
		if json.Unmarshal(dl.Snapshot, &snap) == nil && snap.Record != nil && snap.Record.IsMOC() {
			o.Status = cmex.StatusSubmitted // handed to the registry that takes it to the board
		}
	}
	return o
}

// assignedActivityID reads the ACCME Activity ID from a SaveActivity
// answer's document: the non-empty identifier whose catalog says so
// (specs/pars.md 2, step 5).
func assignedActivityID(doc string) string {
	d := xml.NewDecoder(strings.NewReader(doc))
	var catalog string
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "catalog":
			var s string
			if d.DecodeElement(&s, &se) == nil {
				catalog = strings.TrimSpace(s)
			}
		case "entry":
			var s string
			if d.DecodeElement(&s, &se) == nil && catalog == "ACCME Activity ID" && strings.TrimSpace(s) != "" {
				return strings.TrimSpace(s)
			}
		}
	}
}

// Status implements outbox.StatusChecker: GetLearnerStatusByCreditId
// upstream, read from the status text (" Status: Approved") and the
// response's StatusCode and errors.
func (f *Forwarder) Status(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) cmex.Outcome {
	base := d.URL
	if d.Settings.LearnerURL != "" {
		base = d.Settings.LearnerURL
	}
	var b bytes.Buffer
	b.WriteString(xml.Header + `<LearnerStatusSearchByCreditId xmlns="` + NSLearnerService + `"><CreditId>`)
	escapeText(&b, string(dl.CreditID))
	b.WriteString(`</CreditId><Password>`)
	escapeText(&b, d.Secrets.Password)
	b.WriteString(`</Password><ProviderId>` + string(d.Settings.ProviderID) + `</ProviderId><User>`)
	escapeText(&b, d.Secrets.Username)
	b.WriteString(`</User></LearnerStatusSearchByCreditId>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+PathLearnerStatusByCredit, &b)
	if err != nil || !f.secure(req) {
		return cmex.Outcome{}
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return cmex.Outcome{}
	}
	defer res.Body.Close()
	var arr struct {
		Messages []upstreamResponse `xml:"ResponseMessage"`
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK || xml.Unmarshal(body, &arr) != nil {
		return cmex.Outcome{}
	}
	for _, m := range arr.Messages {
		_, st, ok := strings.Cut(m.Data, "Status: ")
		if !ok {
			continue
		}
		st, reason, _ := strings.Cut(st, "; Reason: ")
		switch s := cmex.LearnerStatus(strings.TrimSpace(st)); s {
		case cmex.StatusSubmitted, cmex.StatusApproved:
			return cmex.Outcome{Status: s}
		case cmex.StatusRejected:
			o := cmex.Outcome{Status: s, Codes: remoteCodes(m)}
			if len(o.Codes) == 0 {
				o.Codes = []cmex.RemoteCode{{Code: "Rejected", Message: cmex.RemoteText(reason, cmex.MaxRemoteText)}}
			}
			return o
		}
	}
	return cmex.Outcome{}
}
