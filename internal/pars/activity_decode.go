package pars

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// decodedActivity is an ACCMEActivities document read from the wire.
type decodedActivity struct {
	activity *cmex.Activity
	action   string // activityRecordAction as sent
	close    bool   // closeActivityRecord
	// problems found while reading: values that could not be parsed,
	// elements cmex does not keep. The domain rules add the rest.
	problems cmex.Problems
	lines    map[string]int // field path → line, to place the rules' problems
	line     int            // line of MedicalEducationMetrics
}

// decodeActivityData parses the escaped document a SubmitMessage's Data
// carried. lineOffset places its lines in the enclosing file.
func decodeActivityData(data string, mode Mode, lineOffset int) (*decodedActivity, *failure) {
	if strings.TrimSpace(data) == "" {
		return nil, fail(http.StatusOK, cmex.RuleDataUnreadable, cmex.Args{Detail: " Data is empty."})
	}
	root, f := parseData(data, lineOffset)
	if f != nil {
		return nil, f
	}
	return decodeActivityTree(root, mode)
}

// parseData parses the document a SubmitMessage's Data carried; a document
// that is not well-formed is 455, at its line in the enclosing file.
func parseData(data string, lineOffset int) (*node, *failure) {
	return parseDoc([]byte(data), lineOffset)
}

// parseDoc parses a document whose line 1 is line lineOffset+1 of its file.
func parseDoc(data []byte, lineOffset int) (*node, *failure) {
	lim := defaultLimits
	lim.lineOffset = lineOffset
	root, err := parseTreeFast(data, lim)
	if err != nil {
		f := fail(http.StatusOK, cmex.RuleXMLError, cmex.Args{Detail: errText(err)})
		f.problem.Line = syntaxLine(err, lineOffset)
		return nil, f
	}
	return root, nil
}

// decodeActivityTree reads a parsed ACCMEActivities document holding
// exactly one activity, as SaveActivity requires (454).
func decodeActivityTree(root *node, mode Mode) (*decodedActivity, *failure) {
	if !root.is("ACCMEActivities", NSActivities) {
		return nil, fail(http.StatusOK, cmex.RuleDataUnreadable, cmex.Args{
			Detail: fmt.Sprintf(" Data holds <%s> in namespace %q, not accme:ACCMEActivities in namespace %s.", root.name.Local, root.name.Space, NSActivities)})
	}
	r := &actReader{mode: mode, a: &cmex.Activity{}, lines: map[string]int{}}
	var mems []*node
	for _, c := range root.children {
		if c.is("MedicalEducationMetrics", NSMetrics) {
			mems = append(mems, c)
			continue
		}
		r.unknown(c, "")
	}
	switch len(mems) {
	case 0:
		return nil, fail(http.StatusOK, cmex.RuleDataUnreadable, cmex.Args{Detail: " The document has no MedicalEducationMetrics element."})
	case 1:
	default:
		return nil, fail(http.StatusOK, cmex.RuleOneActivity, cmex.Args{})
	}
	mem := mems[0]
	r.entry = findProviderActivityID(mem)
	r.mem(mem)
	return &decodedActivity{activity: r.a, action: r.action, close: r.close, problems: r.ps, lines: r.lines, line: mem.line}, nil
}

// placeLines sets the line of each problem that has none, from the line of
// its field or of the nearest enclosing element that was present.
func placeLines(ps cmex.Problems, lines map[string]int, fallback int) {
	for i := range ps {
		if ps[i].Line != 0 {
			continue
		}
		ps[i].Line = fallback
		for f := ps[i].Field; f != ""; f = parentPath(f) {
			if l, ok := lines[f]; ok {
				ps[i].Line = l
				break
			}
		}
	}
}

// parentPath drops the last step of a field path, and an index before it.
func parentPath(f string) string {
	if strings.HasSuffix(f, "]") {
		if i := strings.LastIndexByte(f, '['); i > 0 && !strings.Contains(f[i:], "/") {
			return f[:i]
		}
	}
	i := strings.LastIndexByte(f, '/')
	if i < 0 {
		return ""
	}
	return f[:i]
}

// findProviderActivityID looks ahead for the Provider Activity ID, which
// PARS quotes as the "entry" of the messages about a record.
func findProviderActivityID(mem *node) string {
	var found string
	var walk func(n *node)
	walk = func(n *node) {
		if found != "" {
			return
		}
		if n.is("identifier", NSLOM) {
			var catalog, entry string
			for _, c := range n.children {
				switch {
				case c.is("catalog", NSLOM):
					catalog = c.value()
				case c.is("entry", NSLOM):
					entry = c.value()
				}
			}
			if strings.EqualFold(catalog, cmex.CatalogProviderActivityID) {
				found = entry
			}
			return
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(mem)
	return found
}

// actReader fills an Activity from the tree of MedicalEducationMetrics.
type actReader struct {
	mode   Mode
	a      *cmex.Activity
	entry  string
	ps     cmex.Problems
	lines  map[string]int
	action string
	close  bool
}

// prefixes are the prefixes PARS uses, for paths and messages.
var prefixes = map[string]string{
	NSLOM: "lom:", NSHealthcare: "hx:", NSAddress: "ad:", NSExtension: "ex:", NSExtensionRQ: "ex:",
	NSActivities: "accme:", NSMetrics: "",
}

func display(n xml.Name) string {
	if p, ok := prefixes[n.Space]; ok {
		return p + n.Local
	}
	return n.Local
}

func join(path, step string) string {
	if path == "" {
		return step
	}
	return path + "/" + step
}

func (r *actReader) mark(field string, n *node) {
	if _, ok := r.lines[field]; !ok {
		r.lines[field] = n.line
	}
}

func (r *actReader) problem(rule cmex.Rule, a cmex.Args, n *node) {
	p := rule.Problem(a)
	p.Line = n.line
	r.ps = append(r.ps, p)
}

// unknown reports an element cmex does not keep: an invalid element (463)
// in Strict mode, a warning in Permissive mode, where it is dropped.
func (r *actReader) unknown(n *node, path string) {
	field := join(path, display(n.name))
	a := cmex.Args{Entry: r.entry, Element: field}
	p := cmex.RuleInvalidElement.At(field).Problem(a)
	p.Line = n.line
	if r.mode == Permissive {
		p.Severity = cmex.SeverityWarning
		p.Message += " It was ignored."
	}
	r.ps = append(r.ps, p)
}

// invalid reports a value that could not be read (456).
func (r *actReader) invalid(field, value string, n *node) {
	r.problem(cmex.RuleInvalidValue.At(field), cmex.Args{Entry: r.entry, Element: display(n.name), Value: value}, n)
}

// handlers dispatch the children of an element by namespace and name. A
// slice, not a map: an element has a handful of kinds of children, and
// comparing names beats hashing namespace URIs.
type handlers []handler

type handler struct {
	name xml.Name
	fn   func(*node)
}

// find returns the handler of name.
func (hs handlers) find(name xml.Name) (func(*node), bool) {
	for i := range hs {
		if hs[i].name == name {
			return hs[i].fn, true
		}
	}
	return nil, false
}

// each calls the handler of every child of n, and reports children with no
// handler as unknown. The two ACCME extension namespaces are one. In
// Permissive mode a name that differs only in case is accepted, with a
// warning.
func (r *actReader) each(n *node, path string, hs handlers) {
	for _, c := range n.children {
		name := c.name
		if name.Space == NSExtensionRQ {
			name.Space = NSExtension
		}
		if h, ok := hs.find(name); ok {
			h(c)
			continue
		}
		if r.mode == Permissive {
			if h, want, ok := foldMatch(hs, name); ok {
				r.ps.Warn(cmex.RuleXMLError.At(join(path, display(c.name))), cmex.Args{Detail: fmt.Sprintf("%s should be spelled %s", display(c.name), display(want))})
				h(c)
				continue
			}
		}
		r.unknown(c, path)
	}
}

func foldMatch(hs handlers, name xml.Name) (func(*node), xml.Name, bool) {
	for _, h := range hs {
		if h.name.Space == name.Space && strings.EqualFold(h.name.Local, name.Local) {
			return h.fn, h.name, true
		}
	}
	return nil, xml.Name{}, false
}

// once reports whether n is the first of its kind at field; a repeat of an
// element that may appear once is an invalid value.
func (r *actReader) once(seen map[string]bool, field string, n *node) bool {
	if seen[field] {
		r.invalid(field, "(given more than once)", n)
		return false
	}
	seen[field] = true
	r.mark(field, n)
	return true
}

// single returns a handler that reads an element that may appear once at
// field with read, and reports a repeat.
func (r *actReader) single(seen map[string]bool, field string, read func(*node)) func(*node) {
	return func(c *node) {
		if r.once(seen, field, c) {
			read(c)
		}
	}
}

// ignore accepts an element PARS itself adds to the documents it returns
// (lom:educational, hx:accreditedProvider), so that a client may send back
// what GetActivity gave it. cmex derives them again.
func ignore(*node) {}

func ns(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }

// langString returns the first non-empty lom:string of a LangString.
func langString(n *node) string {
	for _, c := range n.children {
		if c.is("string", NSLOM) && c.value() != "" {
			return c.value()
		}
	}
	return ""
}

func (r *actReader) mem(n *node) {
	r.mark("", n)
	seen := map[string]bool{}
	r.each(n, "", handlers{
		{ns(NSMetrics, "ReportDescription"), r.single(seen, "ReportDescription", r.reportDescription)},
		{ns(NSMetrics, "ActivityDescription"), r.single(seen, "ActivityDescription", r.activityDescription)},
		{ns(NSMetrics, "ParticipationMetrics"), r.single(seen, "ParticipationMetrics", r.participation)},
		{ns(NSMetrics, "XtensibleInfo"), r.single(seen, "XtensibleInfo", r.xtensible)},
	})
}

func (r *actReader) reportDescription(n *node) {
	seen := map[string]bool{}
	date := func(field string, rule cmex.Rule, end bool, dst *cmex.Date) func(*node) {
		return func(c *node) {
			if !r.once(seen, field, c) || c.value() == "" {
				return
			}
			d, err := parseReportingDate(c.value(), end)
			if err != nil {
				r.problem(rule, cmex.Args{Entry: r.entry}, c)
				return
			}
			*dst = d
		}
	}
	r.each(n, "ReportDescription", handlers{
		{ns(NSMetrics, "ReportingStartDate"), date(cmex.FieldReportingStartDate, cmex.RuleInvalidReportStart, false, &r.a.ReportingStart)},
		{ns(NSMetrics, "ReportingEndDate"), date(cmex.FieldReportingEndDate, cmex.RuleInvalidReportEnd, true, &r.a.ReportingEnd)},
	})
}

// parseReportingDate accepts a date, or a bare year as the JSON draft
// allows ("YYYY or YYYY-MM-DD"): the first or last day of that year.
func parseReportingDate(s string, end bool) (cmex.Date, error) {
	if len(s) == 4 {
		y, err := strconv.Atoi(s)
		if err != nil || y < 1 {
			return cmex.Date{}, fmt.Errorf("year %q", s)
		}
		if end {
			return cmex.Date{Year: y, Month: 12, Day: 31}, nil
		}
		return cmex.Date{Year: y, Month: 1, Day: 1}, nil
	}
	d, _, err := cmex.ParseDate(s)
	return d, err
}

func (r *actReader) activityDescription(n *node) {
	seen := map[string]bool{}
	r.each(n, "ActivityDescription", handlers{
		{ns(NSLOM, "lom"), r.single(seen, "ActivityDescription/lom:lom", r.lom)},
		{ns(NSMetrics, "CommercialSupportAmount"), r.supportAmount},
	})
}

func (r *actReader) supportAmount(n *node) {
	i := len(r.a.CommercialSupportAmounts) + 1
	field := cmex.Item(cmex.FieldCommercialSupportAmount, i)
	r.mark(field, n)
	s := cmex.SupportAmount{}
	s.Source, _ = n.attr("supportSource")
	s.Currency, _ = n.attr("currency")
	m, err := cmex.ParseMoney(n.value())
	if err != nil {
		r.invalid(field, n.value(), n)
	}
	s.Amount = m
	r.a.CommercialSupportAmounts = append(r.a.CommercialSupportAmounts, s)
}

func (r *actReader) lom(n *node) {
	seen := map[string]bool{}
	const path = "ActivityDescription/lom:lom"
	r.each(n, path, handlers{
		{ns(NSLOM, "general"), r.single(seen, path+"/lom:general", r.general)},
		{ns(NSLOM, "educational"), ignore},
		{ns(NSHealthcare, "healthcareMetadata"), func(c *node) {
			if !r.once(seen, path+"/hx:healthcareMetadata", c) {
				return
			}
			edu := map[string]bool{}
			r.each(c, path+"/hx:healthcareMetadata", handlers{
				{ns(NSHealthcare, "healthcareEducation"), r.single(edu, path+"/hx:healthcareMetadata/hx:healthcareEducation", r.education)},
			})
		}},
	})
}

func (r *actReader) general(n *node) {
	seen := map[string]bool{}
	const path = "ActivityDescription/lom:lom/lom:general"
	r.each(n, path, handlers{
		{ns(NSLOM, "identifier"), r.identifier},
		{ns(NSLOM, "title"), r.single(seen, cmex.FieldTitle, func(c *node) { r.a.Title = langString(c) })},
		{ns(NSLOM, "description"), r.single(seen, cmex.FieldDescription, func(c *node) { r.a.Description = langString(c) })},
		{ns(NSLOM, "keyword"), func(c *node) {
			r.mark(cmex.Item(cmex.FieldKeyword, len(r.a.Keywords)+1), c)
			k := cmex.Keyword{Value: langString(c)}
			k.Source, _ = c.attr("source")
			k.ID, _ = c.attr("id")
			r.a.Keywords = append(r.a.Keywords, k)
		}},
	})
}

func (r *actReader) identifier(n *node) {
	var catalog, entry *node
	for _, c := range n.children {
		switch {
		case c.is("catalog", NSLOM) && catalog == nil:
			catalog = c
		case c.is("entry", NSLOM) && entry == nil:
			entry = c
		default:
			r.unknown(c, cmex.FieldIdentifier)
		}
	}
	if catalog == nil {
		r.problem(cmex.RuleInvalidElement.At(cmex.FieldIdentifier), cmex.Args{Entry: r.entry, Element: "lom:identifier (no lom:catalog)"}, n)
		return
	}
	value := ""
	at := n
	if entry != nil {
		value, at = entry.value(), entry
	}
	set := func(field string, dst *string) {
		if *dst != "" && value != "" && *dst != value {
			r.invalid(field, value+" (a second, different "+catalog.value()+")", at)
			return
		}
		r.mark(field, at)
		if value != "" {
			*dst = value
		}
	}
	switch {
	case strings.EqualFold(catalog.value(), cmex.CatalogActivityID):
		// PARS may return two ACCME Activity ID identifiers, the first one
		// empty (seed 003); the non-empty one counts.
		r.mark(cmex.FieldActivityID, at)
		if value == "" {
			return
		}
		id, err := cmex.ParseActivityID(value)
		if err != nil {
			r.problem(cmex.RuleInvalidActivityID, cmex.Args{Entry: r.entry}, at)
			return
		}
		if r.a.ID != 0 && r.a.ID != id {
			r.invalid(cmex.FieldActivityID, value+" (a second, different ACCME Activity ID)", at)
			return
		}
		r.a.ID = id
	case strings.EqualFold(catalog.value(), cmex.CatalogProviderActivityID):
		set(cmex.FieldProviderActivityID, &r.a.ProviderActivityID)
	case strings.EqualFold(catalog.value(), cmex.CatalogURL):
		set(cmex.FieldURL, &r.a.URL)
	default:
		r.problem(cmex.RuleInvalidElement.At(cmex.FieldIdentifier), cmex.Args{Entry: r.entry, Element: "lom:identifier with lom:catalog " + strconv.Quote(catalog.value())}, catalog)
	}
}

func (r *actReader) education(n *node) {
	a := r.a
	seen := map[string]bool{}
	const path = "ActivityDescription/lom:lom/hx:healthcareMetadata/hx:healthcareEducation"
	text := func(field string, dst *string) func(*node) {
		return r.single(seen, field, func(c *node) { *dst = c.value() })
	}
	date := func(field string, rule cmex.Rule, dst *cmex.Date) func(*node) {
		return func(c *node) {
			if !r.once(seen, field, c) || c.value() == "" {
				return
			}
			d, _, err := cmex.ParseDate(c.value())
			if err != nil {
				r.problem(rule, cmex.Args{Entry: r.entry}, c)
				return
			}
			*dst = d
		}
	}
	r.each(n, path, handlers{
		{ns(NSHealthcare, "credits"), r.credits},
		{ns(NSHealthcare, "targetAudience"), func(c *node) {
			if !r.once(seen, path+"/hx:targetAudience", c) {
				return
			}
			r.each(c, path+"/hx:targetAudience", handlers{
				{ns(NSHealthcare, "specialty"), func(s *node) {
					r.mark(cmex.Item(cmex.FieldSpecialty, len(a.Specialties)+1), s)
					a.Specialties = append(a.Specialties, langString(s))
				}},
			})
		}},
		{ns(NSHealthcare, "activityLocation"), r.single(seen, cmex.FieldLocation, r.location)},
		{ns(NSHealthcare, "startDateTime"), date(cmex.FieldStartDate, cmex.RuleStartDateFormat, &a.StartDate)},
		{ns(NSHealthcare, "endDateTime"), date(cmex.FieldEndDate, cmex.RuleEndDateFormat, &a.EndDate)},
		{ns(NSHealthcare, "activitySponsorship"), text(cmex.FieldSponsorship, &a.Sponsorship)},
		{ns(NSHealthcare, "activityFormat"), r.single(seen, cmex.FieldActivityFormat, func(c *node) { a.Type = langString(c) })},
		{ns(NSHealthcare, "commercialSupport"), text(cmex.FieldCommercialSupport, &a.CommercialSupport)},
	})
}

func (r *actReader) credits(n *node) {
	a := r.a
	i := len(a.Credits) + 1
	base := cmex.Item(cmex.FieldCredits, i)
	r.mark(base, n)
	if i == 1 {
		r.mark(cmex.FieldCredits, n)
	}
	offer := cmex.CreditOffer{}
	seen := map[string]bool{}
	r.each(n, base, handlers{
		{ns(NSHealthcare, "activityCertification"), r.single(seen, base+"/hx:activityCertification", func(c *node) { offer.Certification = c.value() })},
		{ns(NSHealthcare, "accreditedProvider"), ignore},
		{ns(NSHealthcare, "nonAccreditedProvider"), func(c *node) {
			r.mark(cmex.Item(cmex.FieldJointProvider, len(a.JointProviders)+1), c)
			a.JointProviders = append(a.JointProviders, c.value())
		}},
		{ns(NSHealthcare, "numberOfCredits"), func(c *node) {
			field := base + "/hx:numberOfCredits"
			if !r.once(seen, field, c) || c.value() == "" {
				return
			}
			p, err := cmex.ParsePoints(c.value())
			if err != nil {
				r.problem(cmex.RuleInvalidCredits.At(field), cmex.Args{Entry: r.entry, Value: c.value()}, c)
				return
			}
			offer.Amount = &p
		}},
	})
	a.Credits = append(a.Credits, offer)
}

func (r *actReader) location(n *node) {
	loc := &cmex.Location{}
	seen := map[string]bool{}
	text := func(field string, dst *string) func(*node) {
		return r.single(seen, field, func(c *node) { *dst = c.value() })
	}
	r.each(n, cmex.FieldLocation, handlers{
		{ns(NSAddress, "StreetAddressLine"), func(c *node) {
			if c.value() != "" {
				loc.StreetAddressLines = append(loc.StreetAddressLines, c.value())
			}
		}},
		{ns(NSAddress, "City"), text(cmex.FieldCity, &loc.City)},
		{ns(NSAddress, "StateOrProvince"), text(cmex.FieldStateOrProvince, &loc.StateOrProvince)},
		{ns(NSAddress, "PostalCode"), text(cmex.FieldLocation+"/ad:PostalCode", &loc.PostalCode)},
		{ns(NSAddress, "Country"), func(c *node) {
			if !r.once(seen, cmex.FieldLocation+"/ad:Country", c) {
				return
			}
			r.each(c, cmex.FieldLocation+"/ad:Country", handlers{
				{ns(NSAddress, "CountryCode"), text(cmex.FieldCountry, &loc.Country)},
			})
		}},
	})
	if loc.City != "" || loc.StateOrProvince != "" || loc.PostalCode != "" || loc.Country != "" || len(loc.StreetAddressLines) > 0 {
		r.a.Location = loc
	}
}

func (r *actReader) participation(n *node) {
	r.each(n, "ParticipationMetrics", handlers{
		{ns(NSMetrics, "ParticipantsByCategory"), func(c *node) {
			field := cmex.Item(cmex.FieldParticipants, len(r.a.Participants)+1)
			r.mark(field, c)
			p := cmex.ParticipantCount{}
			p.Category, _ = c.attr("category")
			count, err := strconv.ParseInt(c.value(), 10, 64)
			if err != nil {
				r.invalid(field, c.value(), c)
			}
			p.Count = count
			r.a.Participants = append(r.a.Participants, p)
		}},
	})
}

func (r *actReader) xtensible(n *node) {
	a := r.a
	seen := map[string]bool{}
	list := func(path, item string, field string, dst *[]string, value func(*node) string) func(*node) {
		return func(c *node) {
			if !r.once(seen, path, c) {
				return
			}
			r.each(c, path, handlers{
				{ns(NSExtension, item), func(e *node) {
					r.mark(cmex.Item(field, len(*dst)+1), e)
					*dst = append(*dst, value(e))
				}},
			})
		}
	}
	text := func(field string, dst *string) func(*node) {
		return r.single(seen, field, func(c *node) { *dst = c.value() })
	}
	boolean := func(field string, set func(bool)) func(*node) {
		return func(c *node) {
			if !r.once(seen, field, c) || c.value() == "" {
				return
			}
			switch strings.ToLower(c.value()) {
			case "true", "1":
				set(true)
			case "false", "0":
				set(false)
			default:
				r.invalid(field, c.value(), c)
			}
		}
	}
	r.each(n, "XtensibleInfo", handlers{
		{ns(NSExtension, "CommendationTags"), list("XtensibleInfo/ex:CommendationTags", "CommendationTag", cmex.FieldCommendationTag, &a.CommendationTags, (*node).value)},
		{ns(NSExtension, "InKindSupports"), list("XtensibleInfo/ex:InKindSupports", "InKindSupport", cmex.FieldInKindSupport, &a.InKindSupports, guessInKindSupport)},
		{ns(NSExtension, "DeliveryMethods"), list("XtensibleInfo/ex:DeliveryMethods", "DeliveryMethod", cmex.FieldDeliveryMethod, &a.DeliveryMethods, (*node).value)},
		{ns(NSExtension, "MeasuredOutcomes"), r.measuredOutcomes},
		{ns(NSExtension, "MOCRegistrations"), func(c *node) {
			if !r.once(seen, "XtensibleInfo/ex:MOCRegistrations", c) {
				return
			}
			r.each(c, "XtensibleInfo/ex:MOCRegistrations", handlers{{ns(NSExtension, "MOCRegistration"), r.mocRegistration}})
		}},
		{ns(NSExtension, "CreditClaimDate"), func(c *node) {
			if !r.once(seen, cmex.FieldCreditClaimDate, c) || c.value() == "" {
				return
			}
			d, _, err := cmex.ParseDate(c.value())
			if err != nil {
				r.invalid(cmex.FieldCreditClaimDate, c.value(), c)
				return
			}
			a.CreditClaimDate = d
		}},
		{ns(NSExtension, "ForPublicList"), boolean(cmex.FieldForPublicList, func(b bool) { a.ForPublicList = &b })},
		{ns(NSExtension, "FeeForParticipation"), text(cmex.FieldFeeForParticipation, &a.FeeForParticipation)},
		{ns(NSExtension, "ActivityRegistration"), text(cmex.FieldActivityRegistration, &a.Registration)},
		{ns(NSExtension, "IsMeritBasedIncentivePaymentSystem"), boolean(cmex.FieldMIPS, func(b bool) { a.MIPS = &b })},
		{ns(NSExtension, "activityRecordAction"), text(cmex.FieldRecordAction, &r.action)},
		{ns(NSExtension, "closeActivityRecord"), boolean(cmex.FieldCloseRecord, func(b bool) { r.close = b })},
	})
}

// measuredOutcomes reads ex:MeasuredOutcomes: each ex:MeasuredOutcome
// starts an outcome, and the ex:MeasurementType elements after it belong to
// it. The element may repeat, one outcome in each.
func (r *actReader) measuredOutcomes(n *node) {
	a := r.a
	r.each(n, "XtensibleInfo/ex:MeasuredOutcomes", handlers{
		{ns(NSExtension, "MeasuredOutcome"), func(c *node) {
			r.mark(cmex.Item(cmex.FieldMeasuredOutcome, len(a.MeasuredOutcomes)+1), c)
			a.MeasuredOutcomes = append(a.MeasuredOutcomes, cmex.MeasuredOutcome{Outcome: c.value()})
		}},
		{ns(NSExtension, "MeasurementType"), func(c *node) {
			r.mark(cmex.FieldMeasurementType, c)
			if len(a.MeasuredOutcomes) == 0 {
				a.MeasuredOutcomes = append(a.MeasuredOutcomes, cmex.MeasuredOutcome{})
			}
			last := &a.MeasuredOutcomes[len(a.MeasuredOutcomes)-1]
			last.Types = append(last.Types, c.value())
		}},
	})
}

func (r *actReader) mocRegistration(n *node) {
	i := len(r.a.MOCRegistrations) + 1
	reg := cmex.Item(cmex.FieldMOCRegistration, i)
	r.mark(reg, n)
	m := cmex.MOCRegistration{}
	seen := map[string]bool{}
	r.each(n, reg, handlers{
		{ns(NSExtension, "boardName"), r.single(seen, reg+"/"+cmex.FieldBoardName, func(c *node) { m.Board = c.value() })},
		{ns(NSExtension, "mocPoints"), func(c *node) {
			field := reg + "/" + cmex.FieldMOCPoints
			if !r.once(seen, field, c) || c.value() == "" {
				return
			}
			p, err := cmex.ParsePoints(c.value())
			if err != nil {
				r.problem(cmex.RuleInvalidMOCPoints.At(field), cmex.Args{Entry: r.entry}, c)
				return
			}
			m.Points = &p
		}},
		{ns(NSExtension, "MOCCreditType"), func(c *node) {
			r.mark(cmex.Item(reg+"/"+cmex.FieldMOCCreditType, len(m.CreditTypes)+1), c)
			m.CreditTypes = append(m.CreditTypes, c.value())
		}},
	})
	r.a.MOCRegistrations = append(r.a.MOCRegistrations, m)
}
