package cmex

import "strings"

// Vocabulary is a closed list of values compared without regard to case or
// surrounding space, returned in their canonical spelling. Aliases map
// retired spellings to current ones.
type Vocabulary struct {
	values  []string
	byKey   map[string]string
	aliases map[string]string
}

// NewVocabulary returns a vocabulary of the given canonical values.
func NewVocabulary(values ...string) *Vocabulary {
	v := &Vocabulary{values: values, byKey: make(map[string]string, len(values))}
	for _, s := range values {
		v.byKey[vocabKey(s)] = s
	}
	return v
}

// WithAlias makes old an accepted spelling of the canonical value cur.
func (v *Vocabulary) WithAlias(old, cur string) *Vocabulary {
	if v.aliases == nil {
		v.aliases = map[string]string{}
	}
	v.aliases[vocabKey(old)] = cur
	return v
}

// Lookup returns the canonical spelling of s and whether s is in v.
func (v *Vocabulary) Lookup(s string) (string, bool) {
	k := vocabKey(s)
	if c, ok := v.byKey[k]; ok {
		return c, true
	}
	if c, ok := v.aliases[k]; ok {
		return c, true
	}
	return "", false
}

// Values returns the canonical values in their declared order.
func (v *Vocabulary) Values() []string { return append([]string(nil), v.values...) }

func vocabKey(s string) string {
	s = strings.ReplaceAll(s, "\u2019", "'") // typographic apostrophe, as in "No, it’s free"
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// Vocabularies of the PARS activity record. Sources are in specs/pars.md 1.8;
// CERTAIN unless marked LIKELY (from ACCME's draft JSON schema).
var (
	// ActivityTypes are the values of hx:activityFormat. "Journal-based CME"
	// was renamed "Journal-based CE" in PARS v4.0 (2025-06-10).
	ActivityTypes = NewVocabulary(
		"Live Course",
		"Regularly Scheduled Series",
		"Enduring Material",
		"Journal-based CE",
		"Manuscript Review",
		"Test Item Writing",
		"Committee Learning",
		"Performance/Quality Improvement",
		"Internet Searching and Learning",
		"Learning from Teaching",
		"Other/Blended Learning",
	).WithAlias("Journal-based CME", "Journal-based CE")

	// Boards are the certifying boards taking part in CME in support of MOC.
	// The JSON draft spells ABPath as ABPATH; comparison ignores case.
	Boards = NewVocabulary("ABA", "ABIM", "ABOHNS", "ABOS", "ABP", "ABPath", "ABPMR", "ABS", "ABTS")

	// ABIMCreditTypes are ABIM's MOC credit types (error codes 208/218/219).
	// Other boards' lists were not found; their credit types are free text.
	ABIMCreditTypes = NewVocabulary("Medical Knowledge", "Patient Safety", "Practice Assessment")

	Sponsorships = NewVocabulary("direct", "joint")
	YesNo        = NewVocabulary("yes", "no")
	Booleans     = NewVocabulary("true", "false")

	// ParticipantCategories: physician and non-physician for CME (CERTAIN);
	// the rest are JA-PARS categories (LIKELY).
	ParticipantCategories = NewVocabulary("physician", "non-physician",
		"nurse", "pharmacist", "pharmacy technician", "physician assistant", "psychologist",
		"optometrist", "social worker", "dentist", "allied dental staff", "registered dietitians",
		"dietetic technicians registered", "athletic trainers", "other")

	// ActivityCertifications offered by an activity: AMA PRA Category 1 for
	// CME (CERTAIN), the joint-accreditation kinds from the JSON draft (LIKELY).
	ActivityCertifications = NewVocabulary("AMA PRA Category 1", "IPCE", "Nursing", "Pharmacy",
		"AAPA Category 1", "Psychologist", "Optometrist", "Social Worker", "Dentist",
		"Dietetic CPEU", "Athletic Training CEU")

	MeasuredOutcomes  = NewVocabulary("Learner Competence", "Learner Performance", "Patient Health", "Community Health", "Learner Knowledge") // LIKELY
	MeasurementTypes  = NewVocabulary("Objective", "Subjective")
	DeliveryMethods   = NewVocabulary("In-Person", "Live-Streamed", "Online", "Print/Other") // LIKELY
	FeeKinds          = NewVocabulary("Yes", "No, it’s free", "Variable")                    // LIKELY
	RegistrationKinds = NewVocabulary("Open to All", "Limited")                              // seed; the JSON draft writes "Open to all"
	CreditUnits       = NewVocabulary("CECH", "CEH", "CEU", "Cognate", "Contact Hour", "Credit", "Hour", "Unit", "Credit Hour", "Point")
	USStates          = NewVocabulary(strings.Fields("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR UM VI")...)
)

// CreditAMA is the credit every CME activity reported to PARS offers.
const CreditAMA = "AMA PRA Category 1"
