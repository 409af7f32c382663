package pars

import (
	"bufio"
	"io"

	"github.com/cmexhub/cmex"
)

// learnerFileNamespaces are the prefixes cmex writes learner documents with.
var learnerFileNamespaces = []string{"xmlns:accme", NSLearnerReports, "xmlns:ex", NSLearnerExtension, "xmlns:ar", NSActivityReport,
	"xmlns:m", NSMember, "xmlns:n", NSName, "xmlns:hx", NSHealthcare}

// RecordReport is the one-credit report of a ledger record, as PARS would
// have received it.
func RecordReport(r *cmex.LearnerRecord, provider cmex.ProviderID) *cmex.LearnerReport {
	return &cmex.LearnerReport{
		Action: cmex.LearnerAdd, ReportingOrganization: r.ReportingOrganization, Learner: r.Learner,
		ProviderOrganization: string(provider), ActivityID: r.ActivityID, ActivityTitle: r.ActivityTitle,
		Status: "Completed", CompletionDate: r.CompletionDate,
		Credits: []cmex.CreditCertificate{{Certification: r.Certification, Unit: r.Unit, Points: &r.Points, CreditID: r.CreditID}},
	}
}

// writeActivityReport writes one ar:ActivityReport.
func writeActivityReport(w *xw, r *cmex.LearnerReport) {
	w.start("ar:ActivityReport")
	if r.ReportingOrganization != "" {
		w.elem("ar:ReportingOrganization", r.ReportingOrganization)
	}
	w.start("ar:Member")
	for _, u := range r.Learner.UniqueIDs {
		w.elem("m:UniqueID", u.Value, "domain", u.Domain)
	}
	w.start("m:Name")
	w.elem("n:GivenName", r.Learner.GivenName)
	w.elem("n:FamilyName", r.Learner.FamilyName)
	w.end("m:Name")
	w.start("m:PersonalInfo")
	w.elem("m:BirthDate", r.Learner.BirthDate.String())
	w.end("m:PersonalInfo")
	w.end("ar:Member")
	w.start("ar:Activity")
	w.elem("ar:ProviderOrganization", r.ProviderOrganization)
	w.elem("ar:ActivityName", r.ActivityID.String())
	w.start("ar:Module")
	w.elem("ar:ModuleName", r.ActivityTitle, "moduleID", r.ActivityID.String())
	w.elem("ar:Status", orDefault(r.Status, "Completed"))
	w.elem("ar:CompletedDateTime", r.CompletionDate.String())
	for _, c := range r.Credits {
		w.start("ar:CreditCertificate")
		w.start("ar:CreditReceived")
		w.elem("hx:activityCertification", c.Certification)
		w.elem("hx:creditUnit", orDefault(c.Unit, "Point"))
		if c.Points != nil {
			w.elem("hx:numberOfCredits", c.Points.String())
		}
		w.end("ar:CreditReceived")
		w.elem("ar:CreditID", string(c.CreditID))
		w.end("ar:CreditCertificate")
	}
	w.end("ar:Module")
	w.end("ar:Activity")
	w.start("ar:XtensibleInfo")
	w.elem("ex:learnerRecordAction", r.Action)
	w.end("ar:XtensibleInfo")
	w.end("ar:ActivityReport")
}

// FileWriter writes a batch file, one record at a time, in the form
// ReadFile reads: each record on a line of its own.
type FileWriter struct {
	w    *bufio.Writer
	kind string
	x    xw
	// ProviderName fills hx:accreditedProvider of activities.
	ProviderName string
}

// NewFileWriter starts a batch file of the kind (FileLearners or
// FileActivities) on w.
func NewFileWriter(w io.Writer, kind string) *FileWriter {
	f := &FileWriter{w: bufio.NewWriterSize(w, 64<<10), kind: kind}
	f.x.b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	if kind == FileLearners {
		f.x.start("accme:ACCMELearnerReports", learnerFileNamespaces...)
		f.x.b.WriteString("<ar:ActivityReports>\n")
	} else {
		f.x.start("accme:ACCMEActivities", "xmlns", NSMetrics, "xmlns:accme", NSActivities, "xmlns:ex", NSExtension,
			"xmlns:lom", NSLOM, "xmlns:hx", NSHealthcare, "xmlns:ad", NSAddress, "xmlns:xsi", NSInstance)
		f.x.b.WriteByte('\n')
	}
	return f
}

func (f *FileWriter) flush() error {
	_, err := f.w.Write(f.x.b.Bytes())
	f.x.b.Reset()
	return err
}

// WriteLearnerReport writes one ar:ActivityReport.
func (f *FileWriter) WriteLearnerReport(r *cmex.LearnerReport) error {
	writeActivityReport(&f.x, r)
	f.x.b.WriteByte('\n')
	return f.flush()
}

// WriteActivity writes one MedicalEducationMetrics as GetActivity returns
// it; with an action (Add, Update, Delete) it carries activityRecordAction
// and closeActivityRecord, as a SaveActivity request does.
func (f *FileWriter) WriteActivity(a *cmex.Activity, action string) error {
	encodeActivity(&f.x, a, encodeOptions{providerName: f.ProviderName, action: action, close: a.Closed})
	f.x.b.WriteByte('\n')
	return f.flush()
}

// Close ends the document and flushes it.
func (f *FileWriter) Close() error {
	if f.kind == FileLearners {
		f.x.b.WriteString("</ar:ActivityReports></accme:ACCMELearnerReports>\n")
	} else {
		f.x.b.WriteString("</accme:ACCMEActivities>\n")
	}
	if err := f.flush(); err != nil {
		return err
	}
	return f.w.Flush()
}

// LearnerDocument is the ACCMELearnerReports document of one report, as a
// SaveLearnerActivity request carries it in Data.
func LearnerDocument(r *cmex.LearnerReport) string {
	w := &xw{}
	w.start("accme:ACCMELearnerReports", learnerFileNamespaces...)
	w.start("ar:ActivityReports")
	writeActivityReport(w, r)
	w.end("ar:ActivityReports")
	w.end("accme:ACCMELearnerReports")
	return w.b.String()
}
