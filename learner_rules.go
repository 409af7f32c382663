package cmex

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// LearnerState is what the registry knows that bears on a learner change.
type LearnerState struct {
	// Activity is the provider's live activity the report names, or nil.
	Activity *Activity
	// Candidates are the registry persons holding any of the report's
	// identifiers (registry mode).
	Candidates []*Person
	// Records are the live records of the activity that belong to any of
	// the candidates, or to the report's identity in passthrough mode.
	Records []*LearnerRecord
	// ByCreditID are the provider's live records with the report's CreditIDs.
	ByCreditID map[CreditID]*LearnerRecord
	// Offline says the registry is not at hand (cmex validate): rules that
	// need it are skipped rather than failed.
	Offline bool
}

// LearnerVerdict is what the rules decide about a change.
type LearnerVerdict struct {
	Problems Problems
	Add      []*LearnerRecord // for an add: the records to create, in status Accepted
	Delete   []*LearnerRecord // for a delete: the records to delete
}

// PersonKey is the learner key of a registry person.
func PersonKey(id PersonID) string { return "p:" + strconv.FormatInt(int64(id), 10) }

// CheckLearnerChange applies every Appendix B rule that the report, the
// activity and the registry can decide, and plans the records to add or
// delete. All problems of the report are returned together. The action is
// rewritten to its canonical spelling.
func CheckLearnerChange(ch *LearnerChange, st LearnerState, mode MatchingMode, today Date) LearnerVerdict {
	r := ch.Report
	c := &learnerCheck{r: r, st: st, mode: mode, today: today, by: ch.By, known: ch.Problems}
	c.ps = append(c.ps, ch.Problems...)
	switch action := strings.ToLower(strings.TrimSpace(r.Action)); action {
	case "":
		c.ps.Add(RuleLearnerActionMissing, Args{})
		c.checkAdd() // report the rest too
		return LearnerVerdict{Problems: c.ps}
	case LearnerAdd, LearnerDelete:
		r.Action = action
	default:
		c.ps.Add(RuleLearnerActionInvalid, Args{})
		return LearnerVerdict{Problems: c.ps}
	}
	if r.Action == LearnerDelete {
		if !st.Offline {
			c.checkDelete()
		}
		return LearnerVerdict{Problems: c.ps, Delete: c.deletes}
	}
	c.checkAdd()
	if c.ps.HasErrors() {
		return LearnerVerdict{Problems: c.ps}
	}
	return LearnerVerdict{Problems: c.ps, Add: c.adds}
}

type learnerCheck struct {
	r       *LearnerReport
	st      LearnerState
	mode    MatchingMode
	today   Date
	by      Principal
	known   Problems
	ps      Problems
	adds    []*LearnerRecord
	deletes []*LearnerRecord
}

func (c *learnerCheck) flagged(field string) bool {
	for _, p := range c.known {
		if p.Field == field || strings.HasPrefix(p.Field, field+"/") || strings.HasPrefix(p.Field, field+"[") {
			return true
		}
	}
	return false
}

func (c *learnerCheck) add(r Rule)                 { c.ps.Add(r, Args{}) }
func (c *learnerCheck) addAt(r Rule, field string) { c.ps.Add(r.At(field), Args{}) }

// general reports a problem that has no code of its own (998), with a
// sentence saying what it is.
func (c *learnerCheck) general(field, detail string) {
	p := RuleLearnerGeneral.At(field).Problem(Args{})
	p.Message += " " + detail
	c.ps = append(c.ps, p)
}

func certField(i int, below string) string { return Item(FieldCreditCertificate, i+1, below) }

func (c *learnerCheck) checkDelete() {
	r := c.r
	if len(r.Credits) == 0 && !c.flagged(FieldCreditCertificate) {
		c.add(RuleMissingCertificate)
	}
	seen := map[CreditID]bool{}
	for i, cr := range r.Credits {
		field := certField(i, "ar:CreditID")
		switch rec := c.st.ByCreditID[cr.CreditID]; {
		case cr.CreditID == "":
			if !c.flagged(field) {
				c.addAt(RuleMissingCreditID, field)
			}
		case seen[cr.CreditID]:
		case rec == nil:
			c.addAt(RuleDeleteUnknownCreditID, field)
		case !InReportingWindow(rec.CompletionDate, c.today):
			c.addAt(RuleDeletionDeadline, field)
		default:
			c.deletes = append(c.deletes, rec)
		}
		seen[cr.CreditID] = true
	}
}

func (c *learnerCheck) checkAdd() {
	switch o := strings.ToLower(strings.TrimSpace(c.r.Origin)); {
	case o == "" || o == OriginCompletion:
		c.r.Origin = ""
	case slices.Contains(Origins, o):
		c.r.Origin = o
	default:
		c.general(FieldOrigin, fmt.Sprintf("origin %q is none of %s.", c.r.Origin, strings.Join(Origins, ", ")))
	}
	identityOK := c.checkIdentityForm()
	act := c.checkActivity()
	c.checkCompletion(act)
	planned := c.checkCredits(act)
	if c.r.Action == "" || c.st.Offline {
		return
	}
	key, person := "", PersonID(0)
	if identityOK {
		key, person = c.identify()
	}
	if key == "" || act == nil {
		return
	}
	c.checkHistory(act, key, planned)
	for _, p := range planned {
		p.LearnerKey, p.PersonID = key, person
	}
	c.adds = planned
}

// checkIdentityForm checks the reported identity for form, as both modes
// do, and reports whether it is good enough to match.
func (c *learnerCheck) checkIdentityForm() bool {
	l := &c.r.Learner
	before := len(c.ps)
	if len(l.UniqueIDs) == 0 && !c.flagged(FieldLearnerUniqueID) {
		c.add(RuleMissingDiplomateID)
	}
	domains := map[string]bool{}
	for i := range l.UniqueIDs {
		u := &l.UniqueIDs[i]
		field := Item(FieldLearnerUniqueID, i+1)
		kind, canonical := IdentifierKind(u.Domain)
		u.Value = strings.TrimSpace(u.Value)
		switch {
		case kind == "" && len(strings.TrimSpace(u.Domain)) == 2:
			c.addAt(RuleUnknownLicensingBoard, field)
		case kind == "" && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(u.Domain)), "AB"):
			c.addAt(RuleUnknownMOCBoard, field)
		case kind == "":
			c.addAt(RuleLearnerIDType, field)
		case u.Value == "" && kind == KindLicense:
			c.addAt(RuleLicenceIncomplete, field)
		case u.Value == "":
			c.addAt(RuleMissingDiplomateID, field)
		case kind == KindNPI && !validNPI(u.Value):
			c.addAt(RuleLearnerIDType, field)
		case kind == KindOCI && !OCIIDPattern.MatchString(u.Value):
			c.addAt(RuleLearnerIDType, field)
		case domains[canonical]:
			c.addAt(RuleOneUniqueIDNode, field) // GuessOneUniqueIDPerDomain
		}
		if kind != "" {
			u.Domain = canonical
		}
		domains[canonical] = true
	}
	if strings.TrimSpace(l.GivenName) == "" && !c.flagged(FieldLearnerGivenName) {
		c.add(RuleMissingFirstName)
	}
	if strings.TrimSpace(l.FamilyName) == "" && !c.flagged(FieldLearnerFamilyName) {
		c.add(RuleMissingLastName)
	}
	if l.BirthDate.IsZero() && !c.flagged(FieldLearnerBirthDate) {
		c.add(RuleMissingBirthDate)
	}
	return len(c.ps) == before && !c.flagged(FieldLearnerMember)
}

// validNPI reports whether s is an NPI: ten digits. The NPI's Luhn check
// digit is not verified: the seed's own test learner (NPI 1234567890) would
// fail it.
func validNPI(s string) bool {
	if len(s) != 10 {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

func (c *learnerCheck) checkActivity() *Activity {
	r := c.r
	if r.ActivityID == 0 {
		if !c.flagged(FieldLearnerActivity) {
			c.add(RuleMissingLearnerActivity)
		}
		return nil
	}
	if po := strings.TrimSpace(r.ProviderOrganization); po != "" {
		if id, err := ParseProviderID(po); err != nil || id != c.by.Organization.ProviderID {
			c.general("ar:Activity/ar:ProviderOrganization", "ar:ProviderOrganization "+strconv.Quote(po)+" is not the provider id of this web-service user.")
		}
	}
	a := c.st.Activity
	if a == nil {
		if !c.st.Offline {
			c.add(RuleLearnerActivityUnknown)
		}
		return nil
	}
	if a.StartDate.After(c.today) {
		c.add(RuleFutureLearnerActivity)
	}
	return a
}

// InReportingWindow reports whether a completion on d may still be reported
// (or deleted) on today: completions of a year are accepted until 31 March
// two years later (seed 003: 2021 completions until 2023-03-31), and none
// from the future.
func InReportingWindow(d, today Date) bool {
	if d.After(today) {
		return false
	}
	last := Date{Year: d.Year + 2, Month: 3, Day: 31}
	return !today.After(last)
}

func (c *learnerCheck) checkCompletion(a *Activity) {
	r := c.r
	d := r.CompletionDate
	if s := strings.TrimSpace(r.Status); s != "" && !strings.EqualFold(s, "Completed") {
		c.general(pathModule+"/ar:Status", "ar:Status must be Completed, not "+strconv.Quote(s)+".")
	}
	switch {
	case d.IsZero():
		if !c.flagged(FieldCompletionDate) {
			c.add(RuleMissingCompletionDate)
		}
		return
	case d.After(c.today):
		c.add(RuleInvalidCompletionDate)
		return
	case !InReportingWindow(d, c.today):
		c.add(RuleReportingDeadline)
	}
	if a == nil {
		return
	}
	// For an activity in the future (750) every completion is before its
	// start: 672 would say nothing more.
	if !a.StartDate.IsZero() && d.Before(a.StartDate) && !a.StartDate.After(c.today) {
		c.add(RuleCompletionBeforeStart)
	}
	last := a.EndDate
	if a.CreditClaimDate.After(last) {
		last = a.CreditClaimDate
	}
	if !last.IsZero() && d.After(last) {
		c.add(RuleCompletionAfterEnd)
	}
}

// checkCredits checks each credit certificate and returns the records it
// would become.
func (c *learnerCheck) checkCredits(a *Activity) []*LearnerRecord {
	r := c.r
	if len(r.Credits) == 0 && !c.flagged(FieldCreditCertificate) {
		c.add(RuleMissingCertificate)
	}
	var planned []*LearnerRecord
	creditIDs := map[CreditID]bool{}
	certs := map[string]bool{}
	for i := range r.Credits {
		cr := &r.Credits[i]
		idField := certField(i, "ar:CreditID")
		switch {
		case cr.CreditID == "":
			if !c.flagged(idField) {
				c.addAt(RuleMissingCreditID, idField)
			}
		case len(cr.CreditID) > MaxCreditID:
			c.general(idField, "ar:CreditID is longer than 300 characters.")
		case creditIDs[cr.CreditID] || c.st.ByCreditID[cr.CreditID] != nil:
			c.addAt(RuleDuplicateCreditID, idField)
		case !GuessCreditIDPattern.MatchString(string(cr.CreditID)):
			p := RuleLearnerGeneral.At(idField).Problem(Args{})
			p.Message += " ar:CreditID " + strconv.Quote(string(cr.CreditID)) + " does not follow ccid:<provider domain>:<id>."
			p.Severity = SeverityWarning
			c.ps = append(c.ps, p)
		}
		creditIDs[cr.CreditID] = true

		rec := c.checkCertificate(i, cr, a, certs)
		// A credit already in the ledger (603) is the same credit sent
		// again: judging it against the learner's history would only
		// repeat the point.
		if rec != nil && c.st.ByCreditID[cr.CreditID] == nil {
			planned = append(planned, rec)
		}
	}
	return planned
}

func (c *learnerCheck) checkCertificate(i int, cr *CreditCertificate, a *Activity, certs map[string]bool) *LearnerRecord {
	cf, pointsField := certField(i, "ar:CreditReceived/hx:activityCertification"), certField(i, "ar:CreditReceived/hx:numberOfCredits")
	board, creditType, ok := ParseCertification(cr.Certification)
	switch {
	case strings.TrimSpace(cr.Certification) == "":
		c.addAt(RuleInvalidCertification, cf)
		return nil
	case !ok && strings.HasPrefix(strings.ToUpper(strings.TrimSpace(cr.Certification)), "AB"):
		c.addAt(RuleUnknownMOCBoard, cf)
		return nil
	case !ok:
		c.addAt(RuleInvalidCertification, cf)
		return nil
	}
	if board == "" {
		cr.Certification = CreditAMA
	} else {
		cr.Certification = board + " " + creditType
	}
	if certs[cr.Certification] {
		c.ps.Add(RuleCertificateRepeated.At(cf), Args{Value: cr.Certification})
	}
	certs[cr.Certification] = true

	pointsRule := RuleInvalidCMECredits
	if board != "" {
		pointsRule = RuleInvalidLearnerPoints
	}
	if u := strings.TrimSpace(cr.Unit); u != "" && !strings.EqualFold(u, "Point") {
		c.addAt(pointsRule, certField(i, "ar:CreditReceived/hx:creditUnit"))
	}
	cr.Unit = "Point"
	switch {
	case cr.Points == nil:
		if c.flagged(pointsField) {
			break
		}
		if board != "" {
			c.addAt(RuleMissingLearnerPoints, pointsField)
		} else {
			c.addAt(RuleInvalidCMECredits, pointsField)
		}
	case *cr.Points <= 0:
		c.addAt(pointsRule, pointsField)
	case !cr.Points.QuarterSteps() && board != "":
		c.addAt(RuleLearnerPointsStep, pointsField)
	case !cr.Points.QuarterSteps():
		c.addAt(RuleInvalidCMECredits, pointsField)
	}

	if board != "" {
		if board == "ABIM" {
			if t, ok := ABIMCreditTypes.Lookup(creditType); ok {
				creditType = t
				cr.Certification = board + " " + t
			} else {
				c.addAt(RuleInvalidMOCCreditType, cf)
			}
		}
		if _, ok := c.r.Learner.Value(board); !ok && !c.flagged(FieldLearnerUniqueID) {
			c.addAt(RuleMissingDiplomateID, FieldLearnerUniqueID)
		}
	}
	if a != nil {
		c.checkAgainstActivity(cr, board, creditType, a, cf, pointsField)
	}
	rec := &LearnerRecord{
		CreditID: cr.CreditID, ProviderID: c.by.Organization.ProviderID, ActivityID: c.r.ActivityID,
		ActivityTitle: c.r.ActivityTitle, ReportingOrganization: c.r.ReportingOrganization,
		Learner: c.r.Learner, CompletionDate: c.r.CompletionDate, Origin: c.r.Origin, Certification: cr.Certification,
		Board: board, CreditType: creditType, Unit: cr.Unit, Status: StatusAccepted,
	}
	if cr.Points != nil {
		rec.Points = *cr.Points
	}
	return rec
}

func (c *learnerCheck) checkAgainstActivity(cr *CreditCertificate, board, creditType string, a *Activity, certField, pointsField string) {
	if board == "" {
		offered, ok := a.AMACredits()
		if cr.Points != nil && ok && *cr.Points > offered {
			c.addAt(RuleAMACreditsExceed, pointsField)
		}
		return
	}
	reg, ok := a.MOCRegistration(board)
	if !ok {
		c.addAt(RuleNotMOCActivity, certField)
		return
	}
	offered := false
	for _, t := range reg.CreditTypes {
		if strings.EqualFold(t, creditType) {
			offered = true
		}
	}
	switch {
	case offered:
	case strings.EqualFold(creditType, "Patient Safety"):
		c.addAt(RulePatientSafetyNA, certField)
	case strings.EqualFold(creditType, "Practice Assessment"):
		c.addAt(RulePracticeAssessNA, certField)
	case len(reg.CreditTypes) > 0:
		c.addAt(RuleInvalidMOCCreditType, certField)
	}
	if cr.Points != nil && reg.Points != nil && *cr.Points > *reg.Points {
		c.addAt(RuleLearnerPointsExceed, pointsField)
	}
}

// ParseCertification splits an activityCertification value: "AMA PRA
// Category 1" is AMA credit (board ""), "<board> <MOC credit type>" is MOC
// credit for that board (LIKELY, from the seed's examples).
func ParseCertification(s string) (board, creditType string, ok bool) {
	s = strings.Join(strings.Fields(s), " ")
	if strings.EqualFold(s, CreditAMA) {
		return "", "", true
	}
	first, rest, _ := strings.Cut(s, " ")
	b, known := Boards.Lookup(first)
	if !known || rest == "" {
		return "", "", false
	}
	return b, rest, true
}

// identify finds who the learner is: in registry mode the one person the
// identity matches, in passthrough mode the reported identity itself.
func (c *learnerCheck) identify() (string, PersonID) {
	if c.mode == MatchPassthrough {
		return GuessPassthroughKey(c.r.Learner), 0
	}
	l := c.r.Learner
	cands := c.st.Candidates
	if len(cands) == 0 {
		if len(l.Query().BoardIDs) > 0 {
			c.add(RuleDiplomateNotFound)
		} else {
			c.add(RuleNoLearnerMatch)
		}
		return "", 0
	}
	var byName []*Person
	for _, p := range cands {
		if NameKey(p.FamilyName) == NameKey(l.FamilyName) && NameKey(p.GivenName) == NameKey(l.GivenName) {
			byName = append(byName, p)
		}
	}
	if len(byName) == 0 {
		c.add(RuleNameMismatch)
		return "", 0
	}
	var matched []*Person
	for _, p := range byName {
		if p.BirthDate.Month == l.BirthDate.Month && p.BirthDate.Day == l.BirthDate.Day {
			matched = append(matched, p)
		}
	}
	switch {
	case len(matched) == 0:
		c.add(RuleBirthDateMismatch)
		return "", 0
	case len(matched) > 1:
		c.add(RuleMultipleDiplomates)
		return "", 0
	}
	// An identifier that belongs to someone else makes the record ambiguous.
	for _, p := range cands {
		if p.ID != matched[0].ID {
			c.add(RuleMultipleDiplomates)
			return "", 0
		}
	}
	return PersonKey(matched[0].ID), matched[0].ID
}

// checkHistory compares the planned records with the learner's live
// records of the activity: duplicates, repeats, and MOC point limits.
func (c *learnerCheck) checkHistory(a *Activity, key string, planned []*LearnerRecord) {
	var mine []*LearnerRecord
	for _, r := range c.st.Records {
		if r.LearnerKey == key && r.ActivityID == a.ID && !r.Deleted && r.Status != StatusRejected {
			mine = append(mine, r)
		}
	}
	for _, p := range planned {
		field := FieldCreditCertName
		if p.Board == "" {
			for _, r := range mine {
				if r.Board == "" && !GuessRepeatParticipation(a) {
					c.addAt(RuleRepeatParticipation, field)
					break
				}
			}
			continue
		}
		reg, _ := a.MOCRegistration(p.Board)
		var total Points
		for _, r := range mine {
			if r.Board != p.Board || !strings.EqualFold(r.CreditType, p.CreditType) {
				continue
			}
			if r.CompletionDate == p.CompletionDate {
				if r.Status == StatusSubmitted || r.Status == StatusApproved {
					c.addAt(RuleBoardDuplicateLearner, field)
				} else {
					c.addAt(RuleMultipleCompletions, field)
				}
			}
			total += r.Points
		}
		if reg.Points == nil {
			continue
		}
		switch {
		case total > 0 && total >= *reg.Points:
			c.addAt(RuleMaxPointsGranted, FieldCreditPoints)
		case total+p.Points > *reg.Points && total > 0:
			c.addAt(RuleLearnerPointsMax, FieldCreditPoints)
		}
	}
}

// CandidateKeys are the learner keys whose records bear on a report: every
// candidate person's, and the reported identity's for passthrough mode.
func CandidateKeys(l LearnerIdentity, cands []*Person) []string {
	keys := []string{GuessPassthroughKey(l)}
	for _, p := range cands {
		keys = append(keys, PersonKey(p.ID))
	}
	sort.Strings(keys)
	return keys
}
