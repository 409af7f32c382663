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
	// Now reads a Retry-After date when the answer has no Date header;
	// time.Now if nil.
	Now func() time.Time
}

// Encode implements outbox.Forwarder.
func (f *Forwarder) Encode(_ context.Context, _ *cmex.Destination, dl *cmex.Delivery) ([]byte, error) {
	var snap cmex.LearnerSnapshot
	if err := json.Unmarshal(dl.Snapshot, &snap); err != nil || snap.Record == nil {
		return nil, fmt.Errorf("the stored learner record is not readable")
	}
	if snap.Person == nil || snap.Person.OCIID == "" {
		return nil, fmt.Errorf("WS400: the learner has no OCI ID")
	}
	r := snap.Record
	return json.Marshal(record{
		OCIID: snap.Person.OCIID, UserName: r.Learner.GivenName + " " + r.Learner.FamilyName,
		CourseID: r.ActivityID.String(), CourseTitle: r.ActivityTitle, ActivityID: r.ActivityID.String(),
		CompletionDate: r.CompletionDate.String(), ReportingPeriod: strconv.Itoa(r.CompletionDate.Year),
		Issuer: r.ReportingOrganization, RecordID: string(r.CreditID), Void: dl.Event == cmex.LearnerDelete,
	})
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
		return cmex.Unanswered(ctx, "the exchange")
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
// with the exchange's JSON error code when it sent one.
func Judge(status int, body []byte) cmex.Outcome {
	switch {
	case status >= 200 && status < 300, status == statusDuplicate:
		return cmex.Outcome{Result: cmex.DeliveryDelivered}
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: fmt.Sprintf("the exchange answered HTTP %d", status)}
	}
	var e errorBody
	if json.Unmarshal(body, &e) != nil || e.Code == "" {
		e = errorBody{Code: strconv.Itoa(status), Message: string(body)}
	}
	return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the exchange refused the record", Codes: []cmex.RemoteCode{{Code: e.Code, Message: e.Message}}}
}
