// Package cebroker forwards completions to CE Broker as roster uploads:
// UploadXMLString with the rosters document in the form field InXML, and
// the XML receipt parsed node by node (specs/cebroker.md). The stored
// payload is the rosters document without the upload key, which is added
// when sending so that it is never stored in clear.
package cebroker

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// Forwarder uploads rosters.
type Forwarder struct {
	Client *http.Client
	// Now reads a Retry-After date when the answer has no Date header;
	// time.Now if nil.
	Now func() time.Time
}

// Encode implements outbox.Forwarder: one roster, one attendee. The
// licence is the learner's in one of the destination's licence states (or
// her first), in full, as CE Broker's "role 2" requires (LIKELY).
func (f *Forwarder) Encode(_ context.Context, d *cmex.Destination, dl *cmex.Delivery) ([]byte, error) {
	if dl.Subject != cmex.SubjectLearnerRecord || dl.Event != cmex.LearnerAdd {
		return nil, fmt.Errorf("CE Broker takes completions; a %s %s is not sent", dl.Subject, dl.Event)
	}
	var snap cmex.LearnerSnapshot
	if err := json.Unmarshal(dl.Snapshot, &snap); err != nil || snap.Record == nil {
		return nil, fmt.Errorf("the stored learner record is not readable")
	}
	r := snap.Record
	state, licence := licenceOf(snap, d.Routing.LicenseStates)
	if licence == "" {
		return nil, fmt.Errorf("the learner has no state licence to report to CE Broker")
	}
	profession := d.Settings.Profession
	if profession == "" {
		profession = "MD"
	}
	hours := r.Points.String()
	var b strings.Builder
	b.WriteString(`<rosters id_parent_provider="`)
	xml.EscapeText(&b, []byte(d.Settings.ParentProviderID))
	b.WriteString(`"`)
	if d.Settings.Test {
		b.WriteString(` test="true"`)
	}
	b.WriteString(`><roster>`)
	elem(&b, "id_provider", d.Settings.ParentProviderID)
	elem(&b, "provider_course_code", r.ActivityID.String())
	elem(&b, "end_date", usDate(r.CompletionDate))
	b.WriteString(`<attendees><attendee>`)
	elem(&b, "licensee_profession", profession)
	elem(&b, "license", licence)
	elem(&b, "cebroker_state", state)
	elem(&b, "first_name", r.Learner.GivenName)
	elem(&b, "last_name", r.Learner.FamilyName)
	elem(&b, "date_completed", usDate(r.CompletionDate))
	elem(&b, "ce_credit_hours", hours)
	b.WriteString(`</attendee></attendees></roster></rosters>`)
	return []byte(b.String()), nil
}

func licenceOf(s cmex.LearnerSnapshot, states []string) (state, number string) {
	type lic struct{ state, number string }
	var all []lic
	for _, u := range s.Record.Learner.UniqueIDs {
		if kind, st := cmex.IdentifierKind(u.Domain); kind == cmex.KindLicense {
			all = append(all, lic{st, u.Value})
		}
	}
	if s.Person != nil {
		for _, l := range s.Person.Licenses {
			all = append(all, lic{l.State, l.Number})
		}
	}
	for _, l := range all {
		for _, want := range states {
			if strings.EqualFold(want, l.state) {
				return l.state, l.number
			}
		}
	}
	if len(all) > 0 {
		return all[0].state, all[0].number
	}
	return "", ""
}

func elem(b *strings.Builder, name, text string) {
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}

func usDate(d cmex.Date) string { return fmt.Sprintf("%02d/%02d/%04d", int(d.Month), d.Day, d.Year) }

// Send implements outbox.Forwarder.
func (f *Forwarder) Send(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, payload []byte) cmex.Outcome {
	var key strings.Builder
	xml.EscapeText(&key, []byte(d.Secrets.UploadKey))
	doc := strings.Replace(string(payload), "<rosters ", `<rosters upload_key="`+key.String()+`" `, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, strings.NewReader(url.Values{"InXML": {doc}}.Encode()))
	if err != nil {
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the CE Broker URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return cmex.Unanswered(ctx, "CE Broker", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if res.StatusCode != http.StatusOK {
		if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests {
			return cmex.Outcome{Result: cmex.DeliveryPending, Error: fmt.Sprintf("CE Broker answered HTTP %d", res.StatusCode)}.
				WithRetryAfter(res.Header.Get("Retry-After"), res.Header.Get("Date"), f.now())
		}
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: fmt.Sprintf("CE Broker answered HTTP %d", res.StatusCode)}
	}
	return Judge(body)
}

func (f *Forwarder) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Judge reads a receipt: <string xmlns="https://webservices.cebroker.com/">
// holding the escaped receipt, whose nodes carry Message="" on success and
// the error otherwise (CERTAIN). Only those codes and messages are kept,
// cut to cmex.MaxRemoteText; an answer that is no receipt is not.
func Judge(body []byte) cmex.Outcome {
	var wrapper struct {
		XMLName xml.Name
		Text    string `xml:",chardata"`
	}
	if err := xml.Unmarshal(body, &wrapper); err != nil || wrapper.XMLName.Local != "string" || strings.TrimSpace(wrapper.Text) == "" {
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: "CE Broker's answer is not a receipt"}
	}
	dec := xml.NewDecoder(bytes.NewReader([]byte(wrapper.Text)))
	var codes []cmex.RemoteCode
	nodes := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cmex.Outcome{Result: cmex.DeliveryPending, Error: "CE Broker's receipt is not readable"}
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range se.Attr {
			if a.Name.Local == "Message" {
				nodes++
				if strings.TrimSpace(a.Value) != "" {
					code := se.Name.Local
					for _, x := range se.Attr {
						if x.Name.Local == "ErrorCode" && x.Value != "" {
							code = x.Value
						}
					}
					codes = append(codes, cmex.RemoteCode{Code: cmex.RemoteText(code, 64), Message: cmex.RemoteText(a.Value, cmex.MaxRemoteText)})
				}
			}
		}
	}
	switch {
	case nodes == 0:
		return cmex.Outcome{Result: cmex.DeliveryPending, Error: "CE Broker's receipt reports on no node"}
	case len(codes) > 0:
		return cmex.Outcome{Result: cmex.DeliveryRejected, Error: "CE Broker refused the roster", Codes: codes}
	}
	return cmex.Outcome{Result: cmex.DeliveryDelivered}
}
