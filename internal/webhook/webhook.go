// Package webhook forwards record changes as signed JSON events. Each
// event is signed with HMAC-SHA256 over the body under the destination's
// secret (header Cmex-Signature: sha256=<hex>). When the destination has an
// api_id, the event carries it and the receiver must echo it with result
// "success", as Canada Health Infoway's Terminology Gateway webhooks do;
// anything else is not an acknowledgement and the event is sent again.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// Headers of an event.
const (
	HeaderSignature = "Cmex-Signature" // sha256=<hex HMAC-SHA256 of the body>
	HeaderDelivery  = "Cmex-Delivery"  // the delivery id: the same on every retry
	HeaderEvent     = "Cmex-Event"     // learner-record.add, activity.update…
)

// Event is the JSON body of a webhook.
type Event struct {
	APIID      string          `json:"api_id,omitempty"`
	Event      string          `json:"event"`
	DeliveryID cmex.DeliveryID `json:"deliveryId"`
	CreditID   cmex.CreditID   `json:"creditId,omitempty"` // receivers deduplicate by it
	ActivityID cmex.ActivityID `json:"activityId,omitempty"`
	OccurredAt time.Time       `json:"occurredAt"`
	Record     json.RawMessage `json:"record"`
}

// Ack is what the receiver answers.
type Ack struct {
	APIID   string `json:"api_id"`
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// Forwarder sends webhooks.
type Forwarder struct {
	Client *http.Client
	// Now reads a Retry-After date when the answer has no Date header;
	// time.Now if nil.
	Now func() time.Time
}

// Sign returns the signature header value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header signs body under secret; for receivers.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Encode implements outbox.Forwarder. The api_id is not part of the stored
// bytes: it is a shared secret, added when sending.
func (f *Forwarder) Encode(_ context.Context, _ *cmex.Destination, dl *cmex.Delivery) ([]byte, error) {
	return json.Marshal(Event{Event: dl.Subject + "." + dl.Event, DeliveryID: dl.ID, CreditID: dl.CreditID, ActivityID: dl.ActivityID,
		OccurredAt: dl.CreatedAt, Record: dl.Snapshot})
}

// Send implements outbox.Forwarder.
func (f *Forwarder) Send(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, payload []byte) cmex.Outcome {
	body := payload
	if d.Secrets.APIID != "" {
		var e Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the stored event is not JSON"}
		}
		e.APIID = d.Secrets.APIID
		body, _ = json.Marshal(e)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the destination URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cmex-webhook")
	req.Header.Set(HeaderSignature, Sign(d.Secrets.WebhookSecret, body))
	req.Header.Set(HeaderDelivery, strconv.FormatInt(int64(dl.ID), 10))
	req.Header.Set(HeaderEvent, dl.Subject+"."+dl.Event)
	res, err := f.client().Do(req)
	if err != nil {
		return cmex.Unanswered(ctx, "the destination", err)
	}
	defer res.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return Judge(res.StatusCode, reply, d.Secrets.APIID).WithRetryAfter(res.Header.Get("Retry-After"), res.Header.Get("Date"), f.now())
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Forwarder) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

// Judge turns a receiver's answer into an outcome: a 2xx acknowledges
// (with the api_id echoed and result success, when one is set); 408, 429
// and 5xx are retried (Send adds the answer's Retry-After); other 4xx are
// a permanent refusal. What the outcome keeps of a refusal is its HTTP
// status, and the Ack's message only when the answer is an Ack echoing
// the destination's api_id: a receiver that proves it speaks the protocol.
// Any other body is never kept nor shown (a URL may point at a service that
// is no webhook receiver at all).
func Judge(status int, body []byte, apiID string) cmex.Outcome {
	switch {
	case status >= 200 && status < 300:
		if apiID == "" {
			return cmex.Outcome{Result: cmex.DeliveryDelivered}
		}
		var ack Ack
		if err := json.Unmarshal(body, &ack); err != nil || ack.APIID != apiID || !strings.EqualFold(ack.Result, "success") {
			return cmex.Outcome{Result: cmex.DeliveryPending, Error: "the receiver answered 200 without echoing the api_id with result success"}
		}
		return cmex.Outcome{Result: cmex.DeliveryDelivered}
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: fmt.Sprintf("the receiver answered HTTP %d", status)}
	}
	code := cmex.RemoteCode{Code: strconv.Itoa(status)}
	var ack Ack
	if apiID != "" && json.Unmarshal(body, &ack) == nil && ack.APIID == apiID {
		code.Message = cmex.RemoteText(ack.Message, cmex.MaxRemoteText)
	}
	return cmex.Outcome{Result: cmex.DeliveryRejected, Error: fmt.Sprintf("the receiver refused it: HTTP %d", status), Codes: []cmex.RemoteCode{code}}
}
