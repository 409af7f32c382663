// Package cmars forwards learning records of Ontario physicians to CMaRS
// through a learning-record exchange: only records of persons with an OCI
// ID of a college CMaRS accepts, for activities configured for CMaRS
// (routing, in package cmex, refuses the others with WS400 before anything
// is sent). The exchange's wire format is a GUESS kept in guesses.go.
package cmars

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cmexhub/cmex"
)

// Forwarder posts learning records.
type Forwarder struct {
	Client *http.Client
	// Records finds a provider's live learner records; it tells whether a
	// course's learner has a record of its mandatory activity. Nil sends
	// course records without waiting for one.
	Records func(ctx context.Context, f cmex.LearnerRecordFilter) ([]*cmex.LearnerRecord, error)
	// Now is the clock of reporting periods, and reads a Retry-After date
	// when the answer has no Date header; time.Now if nil.
	Now func() time.Time
}

// Encode implements outbox.Forwarder. A course record whose destination
// names a mandatory activity waits (cmex.ErrNotReady) until the learner
// has a record of that activity in the same reporting period, and is
// refused once the period is over without one.
func (f *Forwarder) Encode(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) ([]byte, error) {
	var snap cmex.LearnerSnapshot
	if err := json.Unmarshal(dl.Snapshot, &snap); err != nil || snap.Record == nil {
		return nil, fmt.Errorf("the stored learner record is not readable")
	}
	r := snap.Record
	oci := cmex.LearnerOCIID(r, snap.Person)
	if oci == "" {
		return nil, fmt.Errorf("WS400: the learner has no OCI ID")
	}
	if err := f.mandatoryDone(ctx, d, dl, r); err != nil {
		return nil, err
	}
	return json.Marshal(record{
		OCIID: oci, UserName: r.Learner.GivenName + " " + r.Learner.FamilyName,
		CourseID: r.ActivityID.String(), CourseTitle: r.ActivityTitle, ActivityID: r.ActivityID.String(),
		CompletionDate: r.CompletionDate.String(), ReportingPeriod: reportingPeriod(r.CompletionDate),
		Issuer: r.ReportingOrganization, RecordID: string(r.CreditID), Void: dl.Event == cmex.LearnerDelete,
	})
}

// mandatoryDone checks that the learner of a course record has a record of
// the course's mandatory activity in the same reporting period. A void
// needs none: it withdraws what was sent.
func (f *Forwarder) mandatoryDone(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, r *cmex.LearnerRecord) error {
	mandatory, ok := d.Routing.MandatoryFor(r.ActivityID)
	if !ok || f.Records == nil || dl.Event == cmex.LearnerDelete {
		return nil
	}
	from, to := periodOf(r.CompletionDate)
	recs, err := f.Records(ctx, cmex.LearnerRecordFilter{ProviderID: r.ProviderID, ActivityID: mandatory, LearnerKey: r.LearnerKey, From: from, To: to, Limit: 1})
	if err != nil {
		return cmex.NotReady("the mandatory activity's records could not be read")
	}
	if len(recs) > 0 {
		return nil
	}
	if cmex.DateOf(f.now()).After(to) {
		return fmt.Errorf("the learner has no record of the mandatory activity %s in reporting period %s, which is over; once one is reported, retry this delivery", mandatory, reportingPeriod(r.CompletionDate))
	}
	return cmex.NotReady("waiting for a record of the mandatory activity %s in reporting period %s", mandatory, reportingPeriod(r.CompletionDate))
}

// Send implements outbox.Forwarder.
func (f *Forwarder) Send(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, payload []byte) cmex.Outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(payload))
	if err != nil {
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the exchange URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	if d.Secrets.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Secrets.Token)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return cmex.Unanswered(ctx, "the exchange", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return Judge(res.StatusCode, body).WithRetryAfter(res.Header.Get("Retry-After"), res.Header.Get("Date"), f.now())
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Judge reads the exchange's answer: 2xx (or its duplicate status) is
// delivered; 5xx, 429 and 408 are retried; anything else is a refusal,
// with the exchange's JSON error code and message when it sent one in the
// protocol's form (a WSnnn code), else its HTTP status only: a body that is
// not the exchange's error is never kept nor shown.
func Judge(status int, body []byte) cmex.Outcome {
	switch {
	case status >= 200 && status < 300, status == statusDuplicate:
		return cmex.Outcome{Result: cmex.DeliveryDelivered}
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: fmt.Sprintf("the exchange answered HTTP %d", status)}
	}
	code := cmex.RemoteCode{Code: strconv.Itoa(status)}
	var e errorBody
	if json.Unmarshal(body, &e) == nil && errorCode.MatchString(e.Code) {
		code = cmex.RemoteCode{Code: e.Code, Message: cmex.RemoteText(e.Message, cmex.MaxRemoteText)}
	}
	return cmex.Outcome{Result: cmex.DeliveryRejected, Error: fmt.Sprintf("the exchange refused the record: HTTP %d", status), Codes: []cmex.RemoteCode{code}}
}
