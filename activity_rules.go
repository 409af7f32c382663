package cmex

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidateActivity applies every rule that the activity's own data can
// decide and returns the problems found, added to known (the problems a
// decoder already reported, which it does not repeat). Vocabulary values are
// rewritten to their canonical spelling as a side effect, so that "Direct"
// is stored as "direct".
func ValidateActivity(a *Activity, known Problems) Problems {
	c := &activityCheck{a: a, known: known}
	for _, r := range activityRules {
		r(c)
	}
	return c.found
}

// ActivityState is what the registry knows that bears on a change: the
// provider's live activities the change names, and what hangs on them.
type ActivityState struct {
	// ByID is the provider's live activity with the change's ACCME Activity ID.
	ByID *Activity
	// ByProviderActivityID is the provider's live activity with the change's
	// Provider Activity ID.
	ByProviderActivityID *Activity
	// IDTaken reports whether the change's ACCME Activity ID names any
	// activity at all, of any provider, deleted or not.
	IDTaken bool
	// LearnerRecords counts the live learner records of the target activity.
	LearnerRecords int
	// BoardsWithLearners are the boards the target's live MOC records are for.
	BoardsWithLearners []string
}

// Target returns the activity an Update or Delete applies to: the one named
// by ACCME Activity ID when the change carries one, else the one named by
// Provider Activity ID.
func (st ActivityState) Target(a *Activity) *Activity {
	if a.ID != 0 {
		return st.ByID
	}
	return st.ByProviderActivityID
}

// CheckActivityData returns the problems of a change that do not depend on
// the registry: those the decoder found, the record action, the data rules
// (ValidateActivity), the reporting year and whether the activity may be
// closed. A Delete is judged on its identifiers only. The change's action is
// rewritten to its canonical spelling. cmex validate runs this offline.
func CheckActivityData(ch *ActivityChange, today Date) Problems {
	a := ch.Activity
	entry := Args{Entry: a.Entry()}
	action, ok := ParseActivityAction(ch.Action)
	var ps Problems
	switch {
	case strings.TrimSpace(ch.Action) == "":
		ps.Add(RuleActionMissing, entry)
	case !ok:
		ps.Add(RuleActionInvalid, entry)
	default:
		ch.Action = string(action)
	}
	if action == ActionDelete {
		for _, p := range ch.Problems {
			if deleteRelevant(p.Field) {
				ps = append(ps, p)
			}
		}
		if a.ID == 0 && a.ProviderActivityID == "" && !ps.Has(RuleMissingProviderAID.Code) {
			ps.Add(RuleMissingActivityID, entry)
		}
		return ps
	}
	ps = append(ps, ch.Problems...)
	ps = append(ps, ValidateActivity(a, ps)...)
	if action == ActionUpdate && a.ID == 0 && a.ProviderActivityID == "" && !ps.Has(RuleMissingProviderAID.Code) {
		ps.Add(RuleMissingActivityID, entry)
	}
	if ch.ReportingYear != 0 && !a.StartDate.IsZero() && ch.ReportingYear != a.StartDate.Year {
		ps.Add(RuleReportingYearValue, Args{Entry: a.Entry(), Element: "ReportingYear", Value: strconv.Itoa(ch.ReportingYear)})
	}
	if ch.Close && (ps.HasErrors() || a.EndDate.IsZero() || !a.EndDate.Before(today)) {
		ps.Add(RuleCannotClose, entry)
	}
	return ps
}

// CheckActivityChange returns every problem of a change: those of
// CheckActivityData and those that depend on the registry's state.
func CheckActivityChange(ch *ActivityChange, st ActivityState, today Date) Problems {
	ps := CheckActivityData(ch, today)
	a := ch.Activity
	entry := Args{Entry: a.Entry()}
	action := ActivityAction(ch.Action)
	switch action {
	case ActionAdd:
		if st.ByProviderActivityID != nil {
			ps.Add(RuleActivityExists, entry)
		}
		if a.ID != 0 && st.IDTaken {
			ps.Add(RuleAddExistingID, entry)
		} else if a.ID != 0 {
			ps.Add(RuleActivityIDUnknown, entry)
		}
	case ActionUpdate, ActionDelete:
		if a.ID == 0 && a.ProviderActivityID == "" {
			break // 202 or 216, from CheckActivityData
		}
		target := st.Target(a)
		switch {
		case target == nil && action == ActionUpdate:
			ps.Add(RuleUpdateUnknownID, entry)
		case target == nil:
			ps.Add(RuleDeleteUnknownID, entry)
		case action == ActionUpdate:
			ps = append(ps, checkUpdate(a, target, st)...)
		default:
			if target.Closed {
				ps.Add(RuleCannotDelete, entry)
			}
			if st.LearnerRecords > 0 {
				ps.Add(RuleDeleteHasLearners, entry)
			}
		}
	}
	return ps
}

func checkUpdate(a, target *Activity, st ActivityState) Problems {
	var ps Problems
	entry := Args{Entry: a.Entry()}
	if target.Closed {
		ps.Add(RuleClosedNoUpdate, Args{Entry: a.Entry(), Element: "ex:closeActivityRecord"})
	}
	if other := st.ByProviderActivityID; other != nil && other.ID != target.ID {
		ps.Add(RuleActivityExists, entry)
	}
	if !target.StartDate.IsZero() && !a.StartDate.IsZero() && target.StartDate.Year != a.StartDate.Year {
		ps.Add(RuleReportingYearChange, Args{Value: strconv.Itoa(target.StartDate.Year), Detail: strconv.Itoa(a.StartDate.Year)})
	}
	if st.LearnerRecords > 0 && a.Type != "" && !strings.EqualFold(a.Type, target.Type) {
		ps.Add(RuleFormatLocked, entry)
	}
	for _, b := range st.BoardsWithLearners {
		if _, kept := a.MOCRegistration(b); !kept {
			ps.Add(RuleRegistrationLocked, Args{Entry: a.Entry(), Value: b})
		}
	}
	return ps
}

// deleteRelevant reports whether a decoding problem at field matters to a
// Delete, which needs only to name its activity.
func deleteRelevant(field string) bool {
	switch field {
	case FieldActivityID, FieldProviderActivityID, FieldRecordAction, FieldCloseRecord, FieldDocument:
		return true
	}
	return false
}

// activityCheck carries one run of the data rules.
type activityCheck struct {
	a     *Activity
	known Problems // reported before the rules ran
	found Problems
}

func (c *activityCheck) args() Args { return Args{Entry: c.a.Entry()} }

func (c *activityCheck) add(r Rule) { c.found.Add(r, c.args()) }

func (c *activityCheck) addAt(r Rule, field string) { c.found.Add(r.At(field), c.args()) }

// invalid reports a value that is not acceptable for an element (456).
func (c *activityCheck) invalid(field, element, value string) {
	c.found.Add(RuleInvalidValue.At(field), Args{Entry: c.a.Entry(), Element: element, Value: value})
}

// missing reports a required element that is absent (457).
func (c *activityCheck) missing(field, element, name string) {
	c.found.Add(RuleMissingField.At(field), Args{Entry: c.a.Entry(), Element: element, Detail: name})
}

// flagged reports whether a problem is already known at field or below it,
// so that a value the decoder could not read is not also called missing.
func (c *activityCheck) flagged(field string) bool {
	for _, ps := range []Problems{c.known, c.found} {
		for _, p := range ps {
			if p.Field == field || strings.HasPrefix(p.Field, field+"/") || strings.HasPrefix(p.Field, field+"[") {
				return true
			}
		}
	}
	return false
}

// canon rewrites *s to its canonical spelling in v and reports whether it
// is in v.
func canon(v *Vocabulary, s *string) bool {
	c, ok := v.Lookup(*s)
	if ok {
		*s = c
	}
	return ok
}

func tooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }

var activityRules = []func(*activityCheck){
	reportingRule,
	identifierRule,
	titleRule,
	creditsRule,
	jointProviderRule,
	specialtyRule,
	locationRule,
	datesRule,
	sponsorshipRule,
	typeRule,
	commercialSupportRule,
	participantsRule,
	extensionListsRule,
	mocRule,
	keywordRule,
	claimDateRule,
}

func reportingRule(c *activityCheck) {
	a := c.a
	if a.ReportingStart.IsZero() && !c.flagged(FieldReportingStartDate) {
		c.add(RuleMissingReportStart)
	}
	if a.ReportingEnd.IsZero() && !c.flagged(FieldReportingEndDate) {
		c.add(RuleMissingReportEnd)
	}
	if !a.ReportingStart.IsZero() && !a.ReportingEnd.IsZero() && a.ReportingEnd.Before(a.ReportingStart) {
		c.add(RuleInvalidReportEnd)
	}
}

func identifierRule(c *activityCheck) {
	a := c.a
	switch {
	case a.ProviderActivityID == "" && !c.flagged(FieldProviderActivityID):
		c.add(RuleMissingProviderAID)
	case tooLong(a.ProviderActivityID, MaxProviderActivityID):
		c.invalid(FieldProviderActivityID, CatalogProviderActivityID, a.ProviderActivityID)
	case a.ProviderID != "" && strings.TrimLeft(a.ProviderActivityID, "0") == string(a.ProviderID):
		c.add(RuleInternalIDIsOrgID)
	}
	switch {
	case a.URL == "":
		if GuessURLRequired(a) && !c.flagged(FieldURL) {
			c.add(RuleMissingURL)
		}
	case tooLong(a.URL, GuessMaxURL) || !isWebURL(a.URL):
		c.invalid(FieldURL, CatalogURL, a.URL)
	}
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func titleRule(c *activityCheck) {
	a := c.a
	switch {
	case strings.TrimSpace(a.Title) == "":
		if !c.flagged(FieldTitle) {
			c.add(RuleMissingTitle)
		}
	case tooLong(a.Title, GuessMaxTitle):
		c.add(RuleInvalidTitle)
	}
	if tooLong(a.Description, MaxDescription) {
		c.invalid(FieldDescription, "lom:description", fmt.Sprintf("%d characters (at most %d)", utf8.RuneCountInString(a.Description), MaxDescription))
	}
}

func creditsRule(c *activityCheck) {
	a := c.a
	if len(a.Credits) == 0 {
		if !c.flagged(FieldCredits) {
			c.add(RuleMissingCredits)
		}
		return
	}
	for i := range a.Credits {
		cr := &a.Credits[i]
		field := Item(FieldCredits, i+1, "hx:numberOfCredits")
		switch {
		case cr.Certification == "":
			c.found.Add(RuleMissingCreditType, Args{Value: CreditAMA})
		case !canon(ActivityCertifications, &cr.Certification):
			c.invalid(FieldActivityCertification, "hx:activityCertification", cr.Certification)
		}
		switch {
		case cr.Amount == nil:
			if c.flagged(field) {
				break
			}
			if cr.Certification == CreditAMA {
				c.addAt(RuleMissingCredits, field)
			} else {
				c.found.Add(RuleInvalidCredits.At(field), Args{Entry: a.Entry(), Value: "(missing)"})
			}
		case *cr.Amount <= 0 || *cr.Amount > GuessMaxCreditsOffered || !cr.Amount.QuarterSteps():
			c.found.Add(RuleInvalidCredits.At(field), Args{Entry: a.Entry(), Value: cr.Amount.String()})
		}
	}
	seen := map[string]bool{}
	for _, cr := range a.Credits {
		if cr.Certification != "" && seen[cr.Certification] {
			c.invalid(FieldActivityCertification, "hx:activityCertification", cr.Certification+" (offered twice)")
		}
		seen[cr.Certification] = true
	}
}

func jointProviderRule(c *activityCheck) {
	a := c.a
	if a.Sponsorship == "joint" && len(a.JointProviders) == 0 && !c.flagged(FieldJointProvider) {
		c.add(RuleMissingJointProv)
	}
	for i, p := range a.JointProviders {
		if strings.TrimSpace(p) == "" || tooLong(p, GuessMaxName) {
			c.addAt(RuleInvalidJointProv, Item(FieldJointProvider, i+1))
		}
	}
}

func specialtyRule(c *activityCheck) {
	a := c.a
	if len(a.Specialties) == 0 && len(a.MOCRegistrations) > 0 && !c.flagged(FieldSpecialty) {
		c.add(RuleMissingSpecialties)
	}
	seen := map[string]bool{}
	for i, s := range a.Specialties {
		k := vocabKey(s)
		if k == "" || tooLong(s, GuessMaxName) || seen[k] {
			c.addAt(RuleInvalidSpecialty, Item(FieldSpecialty, i+1))
		}
		seen[k] = true
	}
}

func locationRule(c *activityCheck) {
	a := c.a
	loc := a.Location
	if loc == nil {
		loc = &Location{}
	}
	required := GuessLocationRequired(a)
	if required && loc.City == "" && !c.flagged(FieldCity) {
		c.missing(FieldCity, "hx:activityLocation", "ad:City")
	}
	if required && loc.Country == "" && !c.flagged(FieldCountry) {
		c.missing(FieldCountry, "hx:activityLocation", "ad:Country")
	}
	for _, s := range append([]string{loc.City, loc.PostalCode}, loc.StreetAddressLines...) {
		if tooLong(s, GuessMaxName) {
			c.invalid(FieldLocation, "hx:activityLocation", s)
		}
	}
	if loc.Country != "" {
		loc.Country = strings.ToUpper(loc.Country)
		if len(loc.Country) != 3 || strings.Trim(loc.Country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			c.invalid(FieldCountry, "ad:CountryCode", loc.Country)
		}
	}
	if loc.Country == "USA" {
		switch {
		case loc.StateOrProvince == "":
			if required && !c.flagged(FieldStateOrProvince) {
				c.missing(FieldStateOrProvince, "hx:activityLocation", "ad:StateOrProvince")
			}
		case !canon(USStates, &loc.StateOrProvince):
			c.invalid(FieldStateOrProvince, "ad:StateOrProvince", loc.StateOrProvince)
		}
	} else if tooLong(loc.StateOrProvince, GuessMaxName) {
		c.invalid(FieldStateOrProvince, "ad:StateOrProvince", loc.StateOrProvince)
	}
}

func datesRule(c *activityCheck) {
	a := c.a
	if a.StartDate.IsZero() {
		if !c.flagged(FieldStartDate) {
			c.add(RuleMissingStartDate)
		}
	} else if a.StartDate.Year < 1900 {
		c.add(RuleInvalidStartDate)
	}
	if a.EndDate.IsZero() && !c.flagged(FieldEndDate) {
		c.add(RuleMissingEndDate)
	}
	if !a.StartDate.IsZero() && !a.EndDate.IsZero() && a.EndDate.Before(a.StartDate) {
		c.add(RuleEndBeforeStart)
	}
}

func sponsorshipRule(c *activityCheck) {
	a := c.a
	switch {
	case a.Sponsorship == "":
		if !c.flagged(FieldSponsorship) {
			c.add(RuleMissingSponsorship)
		}
	case !canon(Sponsorships, &a.Sponsorship):
		c.add(RuleInvalidSponsorship)
	}
}

func typeRule(c *activityCheck) {
	a := c.a
	switch {
	case a.Type == "":
		if !c.flagged(FieldActivityFormat) {
			c.add(RuleMissingFormat)
		}
	case !canon(ActivityTypes, &a.Type):
		c.found.Add(RuleInvalidActivityType, Args{Entry: a.Entry(), Value: a.Type})
	}
}

func commercialSupportRule(c *activityCheck) {
	a := c.a
	if a.CommercialSupport != "" && !canon(YesNo, &a.CommercialSupport) {
		c.invalid(FieldCommercialSupport, "hx:commercialSupport", a.CommercialSupport)
	}
	for i := range a.CommercialSupportAmounts {
		s := &a.CommercialSupportAmounts[i]
		field := Item(FieldCommercialSupportAmount, i+1)
		if strings.TrimSpace(s.Source) == "" {
			c.missing(field, "CommercialSupportAmount", "supportSource")
		} else if tooLong(s.Source, GuessMaxName) {
			c.invalid(field, "CommercialSupportAmount/@supportSource", s.Source)
		}
		if s.Currency != "" {
			s.Currency = strings.ToUpper(s.Currency)
			if len(s.Currency) != 3 || strings.Trim(s.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				c.invalid(field, "CommercialSupportAmount/@currency", s.Currency)
			}
		}
		if s.Amount > GuessMaxSupportAmount*100 {
			c.invalid(field, "CommercialSupportAmount", s.Amount.String())
		}
	}
}

func participantsRule(c *activityCheck) {
	a := c.a
	seen := map[string]bool{}
	for i := range a.Participants {
		p := &a.Participants[i]
		field := Item(FieldParticipants, i+1)
		if !canon(ParticipantCategories, &p.Category) || seen[p.Category] {
			c.invalid(field, "ParticipantsByCategory/@category", p.Category)
		}
		seen[p.Category] = true
		if p.Count < 0 || p.Count > GuessMaxParticipants {
			c.invalid(field, "ParticipantsByCategory", strconv.FormatInt(p.Count, 10))
		}
	}
}

// extensionListsRule checks the XtensibleInfo vocabularies and list sizes.
func extensionListsRule(c *activityCheck) {
	a := c.a
	for i := range a.CommendationTags {
		t := &a.CommendationTags[i]
		field := Item(FieldCommendationTag, i+1)
		switch {
		case strings.TrimSpace(*t) == "" || tooLong(*t, GuessMaxName):
			c.found.Add(RuleInvalidCommendation.At(field), Args{Value: *t})
		case !canon(GuessCommendationTags, t):
			c.found.Warn(RuleInvalidCommendation.At(field), Args{Value: *t + " (not among the commendation criteria cmex knows)"})
		}
	}
	for i := range a.InKindSupports {
		if s := a.InKindSupports[i]; strings.TrimSpace(s) == "" || tooLong(s, GuessMaxName) {
			c.invalid(Item(FieldInKindSupport, i+1), "ex:InKindSupport", s)
		}
	}
	var bad []string
	for i := range a.DeliveryMethods {
		if !canon(DeliveryMethods, &a.DeliveryMethods[i]) {
			bad = append(bad, a.DeliveryMethods[i])
		}
	}
	if len(bad) > 0 {
		c.found.Add(RuleInvalidDelivery, Args{Value: strings.Join(bad, ", ")})
	}
	for i := range a.MeasuredOutcomes {
		m := &a.MeasuredOutcomes[i]
		if !canon(MeasuredOutcomes, &m.Outcome) {
			c.invalid(Item(FieldMeasuredOutcome, i+1), "ex:MeasuredOutcome", m.Outcome)
		}
		for j := range m.Types {
			if !canon(MeasurementTypes, &m.Types[j]) {
				c.invalid(FieldMeasurementType, "ex:MeasurementType", m.Types[j])
			}
		}
	}
	if a.FeeForParticipation != "" && !canon(FeeKinds, &a.FeeForParticipation) {
		c.invalid(FieldFeeForParticipation, "ex:FeeForParticipation", a.FeeForParticipation)
	}
	if a.Registration != "" && !canon(RegistrationKinds, &a.Registration) {
		c.invalid(FieldActivityRegistration, "ex:ActivityRegistration", a.Registration)
	}
	lists := []struct {
		field, element string
		n              int
	}{
		{FieldSpecialty, "hx:specialty", len(a.Specialties)},
		{FieldJointProvider, "hx:nonAccreditedProvider", len(a.JointProviders)},
		{FieldCredits, "hx:credits", len(a.Credits)},
		{FieldCommercialSupportAmount, "CommercialSupportAmount", len(a.CommercialSupportAmounts)},
		{FieldParticipants, "ParticipantsByCategory", len(a.Participants)},
		{FieldCommendationTag, "ex:CommendationTag", len(a.CommendationTags)},
		{FieldInKindSupport, "ex:InKindSupport", len(a.InKindSupports)},
		{FieldDeliveryMethod, "ex:DeliveryMethod", len(a.DeliveryMethods)},
		{FieldMeasuredOutcome, "ex:MeasuredOutcome", len(a.MeasuredOutcomes)},
		{FieldMOCRegistration, "ex:MOCRegistration", len(a.MOCRegistrations)},
		{FieldKeyword, "lom:keyword", len(a.Keywords)},
	}
	for _, l := range lists {
		if l.n > GuessMaxListItems {
			c.invalid(l.field, l.element, fmt.Sprintf("%d items (at most %d)", l.n, GuessMaxListItems))
		}
	}
}

func mocRule(c *activityCheck) {
	a := c.a
	seen := map[string]bool{}
	for i := range a.MOCRegistrations {
		r := &a.MOCRegistrations[i]
		reg := Item(FieldMOCRegistration, i+1)
		switch {
		case strings.TrimSpace(r.Board) == "":
			if !c.flagged(Item(FieldMOCRegistration, i+1, FieldBoardName)) {
				c.missing(Item(FieldMOCRegistration, i+1, FieldBoardName), "ex:MOCRegistration", "ex:boardName")
			}
		case !canon(Boards, &r.Board):
			c.invalid(Item(FieldMOCRegistration, i+1, FieldBoardName), "ex:boardName", r.Board)
		case seen[r.Board]:
			c.invalid(Item(FieldMOCRegistration, i+1, FieldBoardName), "ex:boardName", r.Board+" (registered twice)")
		}
		seen[r.Board] = true

		points := Item(FieldMOCRegistration, i+1, FieldMOCPoints)
		switch {
		case r.Points == nil:
			if !c.flagged(points) {
				c.addAt(RuleMissingMOCPoints, points)
			}
		case *r.Points <= 0 || *r.Points > GuessMaxCreditsOffered:
			c.addAt(RuleInvalidMOCPoints, points)
		case !r.Points.QuarterSteps():
			c.addAt(RuleMOCPointsStep, points)
		}

		types := map[string]bool{}
		for j := range r.CreditTypes {
			t := &r.CreditTypes[j]
			field := Item(FieldMOCRegistration, i+1, Item(FieldMOCCreditType, j+1))
			switch {
			case strings.TrimSpace(*t) == "" || tooLong(*t, GuessMaxName):
				c.invalid(field, "ex:MOCCreditType", *t)
			case r.Board == "ABIM" && !canon(ABIMCreditTypes, t):
				c.invalid(field, "ex:MOCCreditType", *t)
			case types[vocabKey(*t)]:
				c.invalid(field, "ex:MOCCreditType", *t+" (listed twice)")
			}
			types[vocabKey(*t)] = true
		}
		if r.Board == "ABIM" && GuessABIMNeedsMedicalKnowledge && !types[vocabKey("Medical Knowledge")] {
			c.addAt(RuleMissingMedKnowl, reg)
		}
	}
}

// keywordRule checks ABA's MOCA content outline (all GUESS; see guesses.go).
func keywordRule(c *activityCheck) {
	a := c.a
	_, aba := a.MOCRegistration("ABA")
	if aba && len(a.Keywords) == 0 && !c.flagged(FieldKeyword) {
		c.add(RuleMissingOutline)
	}
	perSource := map[string]int{}
	invalid := false
	for i := range a.Keywords {
		k := &a.Keywords[i]
		if strings.TrimSpace(k.Value) == "" || tooLong(k.Value, GuessMaxName) ||
			!canon(GuessMOCASources, &k.Source) || !canon(GuessMOCAKeywordIDs, &k.ID) {
			invalid = true
		}
		perSource[k.Source]++
	}
	if invalid {
		c.add(RuleInvalidKeywords)
	}
	for _, n := range perSource {
		if n > GuessMOCAKeywordsPerSource {
			c.found.Add(RuleKeywordCount, Args{Value: strconv.Itoa(len(a.Keywords))})
			break
		}
	}
}

func claimDateRule(c *activityCheck) {
	a := c.a
	if !a.CreditClaimDate.IsZero() && !a.EndDate.IsZero() && a.CreditClaimDate.Before(a.EndDate) {
		c.add(RuleClaimBeforeEnd)
	}
}
