package pars

import (
	"bytes"
	"fmt"
	"time"
	_ "time/tzdata" // guessStatusZone must load wherever cmex runs

	"github.com/cmexhub/cmex"
)

// This file holds every GUESS of the PARS wire format: what the seed does
// not show and cmex had to choose (specs/pars.md, specs/certainty.md). Each
// is named guess… so they can be found and corrected in one place.

// guessSearchFailure is how GetActivity reports a failure (bad credentials,
// no criterion, a criterion that cannot be read). The seed shows only the
// successful SearchResult{Data}. cmex answers with the same SearchResult,
// Data nil, and the ErrorMessages and StatusCode members of a
// ResponseMessage after it, in WCF's alphabetical order: a WCF client
// reading SearchResult ignores members it does not know and sees no data; a
// client that looks finds PARS-coded errors.
func guessSearchFailure(ps cmex.Problems) response {
	return response{root: "SearchResult", dataNil: true, hasErrors: true, errors: errorMessages(ps), status: "Rejected"}
}

// guessSearchEmpty is GetActivity's answer when nothing matches: Data nil
// and nothing else, since an empty search is not an error.
func guessSearchEmpty() response {
	return response{root: "SearchResult", dataNil: true}
}

// guessSearchResult is GetActivity's answer when activities match. Searching
// by ActivityStartDate or ActivityTypeName can match several; the root
// element is plural (ACCMEActivities), so cmex returns them all in one
// document, one MedicalEducationMetrics each.
func guessSearchResult(acts []*cmex.Activity, providerName string) response {
	return response{root: "SearchResult", data: encodeActivities(acts, encodeOptions{providerName: providerName})}
}

// guessInKindSupport reads an ex:InKindSupport. The JSON draft gives an
// in-kind support a "source"; the XML form was not found. cmex takes the
// element's text, or its source attribute when the text is empty.
func guessInKindSupport(n *node) string {
	if v := n.value(); v != "" {
		return v
	}
	v, _ := n.attr("source")
	return v
}

// Learner services.

// guessStatusZone is the zone of the "Submission Date" in status strings:
// ACCME is in Chicago, and PARS converts activity times from Central time
// (seed 003).
var guessStatusZone = func() *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// guessStatusData is the Data string of a status query result. The seed
// shows "Activity Id: 210015516; Submission Date: 08/24/2021 21:12:31 PM;
// Learner Id: 278846" (a 24-hour clock with a PM designator: .NET's
// "MM/dd/yyyy HH:mm:ss tt"). cmex appends "; Credit Id: <CreditID>", so
// that the several answers of a query by learner can be told apart, then
// "; Status: <detailed status>", and "; Reason: <the board's reason>" for a
// board's rejection, so that a client can see Submitted and Approved, which
// StatusCode cannot carry.
func guessStatusData(r *cmex.LearnerRecord) string {
	s := fmt.Sprintf("Activity Id: %d; Submission Date: %s; Learner Id: %s; Credit Id: %s; Status: %s",
		r.ActivityID, r.SubmittedAt.In(guessStatusZone).Format("01/02/2006 15:04:05 PM"), r.LearnerNumber(), r.CreditID, r.Status)
	if r.Status == cmex.StatusRejected && r.StatusReason != "" {
		s += "; Reason: " + r.StatusReason
	}
	return s
}

// guessStatusCode maps a record's status to the StatusCode of a status
// query, which PARS documents as Accepted, Rejected or Pending (string(8):
// "Submitted" would not fit). A record with MOC credit is Pending until its
// board decides; AMA credit is Accepted at once.
func guessStatusCode(r *cmex.LearnerRecord) string {
	switch {
	case r.Status == cmex.StatusRejected:
		return "Rejected"
	case r.Status == cmex.StatusApproved, !r.IsMOC():
		return "Accepted"
	}
	return "Pending"
}

// guessStatusNotFound is the answer of a status query that matches
// nothing: one Rejected ResponseMessage with the code Appendix B has for it
// (606 for the learner query, 605 for the CreditID query).
func guessStatusNotFound(rule cmex.Rule) []response {
	return []response{statusRejection(cmex.Problems{rule.Problem(cmex.Args{})})}
}

// guessMatchFailure is LearnerMatchResponse for a request that cannot be
// answered (bad credentials, no name, nothing to match on). The seed shows
// only MatchedLearnerCount; cmex puts an ErrorMessages member before it,
// in WCF's alphabetical order, and a count of 0.
func guessMatchFailure(ps cmex.Problems) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<LearnerMatchResponse xmlns="` + NSLearnerService + `" xmlns:i="` + NSInstance + `">`)
	writeErrors(&b, errorMessages(ps), true)
	b.WriteString("<MatchedLearnerCount>0</MatchedLearnerCount></LearnerMatchResponse>\n")
	return b.Bytes()
}
