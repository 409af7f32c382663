package cmex

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Learning plan types (CERTAIN, seed 002: "always provided").
const (
	PlanApplication = "Application"
	PlanMaintenance = "Maintenance"
	PlanAppellate   = "Appellate"
)

// Plans are the credential requirements a member-management system asks
// about: for each credential role, its learning plans. An operator loads
// them from a plan file (cmex plans load).
type Plans struct {
	Roles []RoleDefinition `json:"roles"`
	// Views name the fields GetRoleData returns for RequestType Summary
	// and Detail.
	Views Views `json:"views"`
}

// RoleDefinition is one credential role (Practitioner) and its plans.
type RoleDefinition struct {
	Role string `json:"role"`
	// ExtrinsicFields name the client-specific fields of the role's
	// instances (CertificationNumber): GetRoleData returns a role
	// instance's value of each, and no others (seed 002: "Field names are
	// defined by the client when adding Extrinsic Fields to the Member
	// Role").
	ExtrinsicFields []string         `json:"extrinsicFields,omitempty"`
	LearningPlans   []PlanDefinition `json:"learningPlans"`
}

// PlanDefinition is one learning plan: a cycle, a reporting window, the
// minimum units and the task groups that credits count toward.
type PlanDefinition struct {
	Type         string                `json:"type"`
	Name         string                `json:"name"`
	Cycle        CycleDefinition       `json:"cycle"`
	Reporting    ReportingDefinition   `json:"reporting"`
	MinimumUnits Points                `json:"minimumUnits"`
	TaskGroups   []TaskGroupDefinition `json:"taskGroups"`
	// ExtrinsicFields name the client-specific fields of the plan, whose
	// values each role instance holds (seed 002: "Extrinsic Fields to the
	// Complete Learning Plan Workflow").
	ExtrinsicFields []string `json:"extrinsicFields,omitempty"`
}

// CycleDefinition is a plan's cycle: fixed dates, or rolling from the role
// instance's begin date in cycles of Years and Months.
type CycleDefinition struct {
	Start  Date `json:"start,omitzero"`
	End    Date `json:"end,omitzero"`
	Years  int  `json:"years,omitempty"`
	Months int  `json:"months,omitempty"`
}

// Rolling reports whether the cycle rolls from the role's begin date.
func (c CycleDefinition) Rolling() bool { return c.Years > 0 || c.Months > 0 }

// ReportingDefinition places the reporting window around the cycle: it
// opens StartOffsetDays after the cycle starts and closes EndOffsetDays
// after it ends (often later than the cycle, so that activities of its
// last days can be reported).
type ReportingDefinition struct {
	StartOffsetDays int `json:"startOffsetDays,omitempty"`
	EndOffsetDays   int `json:"endOffsetDays,omitempty"`
}

// TaskGroupDefinition is a part of a plan: the units it requires, which
// credits count toward it, and activities that must be among them.
type TaskGroupDefinition struct {
	Name               string       `json:"name"`
	RequiredUnits      Points       `json:"requiredUnits"`
	Filter             CreditFilter `json:"filter"`
	RequiredActivities []string     `json:"requiredActivities,omitempty"` // titles or ACCME Activity IDs
}

// CreditFilter selects credits: each list given must contain the credit's
// value (compared without regard to case); an empty list accepts any.
type CreditFilter struct {
	Certifications []string `json:"certifications,omitempty"` // AMA PRA Category 1, or a board's credit such as ABIM Medical Knowledge
	Boards         []string `json:"boards,omitempty"`         // MOC credits of these boards
	CreditTypes    []string `json:"creditTypes,omitempty"`    // MOC credit types: Medical Knowledge
	Specialties    []string `json:"specialties,omitempty"`    // any of the activity's specialties
	ActivityTypes  []string `json:"activityTypes,omitempty"`  // Live Course, Enduring Material…
	SelfAttested   *bool    `json:"selfAttested,omitempty"`   // nil: either
}

// Matches reports whether the filter accepts c.
func (f CreditFilter) Matches(c *Credit) bool {
	in := func(list []string, v string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), v) })
	}
	if !in(f.Certifications, c.Certification) || !in(f.Boards, c.Board) || !in(f.CreditTypes, c.CreditType) || !in(f.ActivityTypes, c.ActivityType) {
		return false
	}
	if len(f.Specialties) > 0 && !slices.ContainsFunc(c.Specialties, func(s string) bool { return in(f.Specialties, s) }) {
		return false
	}
	return f.SelfAttested == nil || *f.SelfAttested == c.SelfAttested
}

// Views are the fields GetRoleData returns, per request type.
type Views struct {
	Summary View `json:"summary"`
	Detail  View `json:"detail"`
}

// View names the optional fields returned for role instances, learning
// plans and activities. Fields not named are left out; Workflow, the
// hierarchy and LearningPlanType are always returned.
type View struct {
	Role         []string `json:"role,omitempty"`
	LearningPlan []string `json:"learningPlan,omitempty"`
	Activity     []string `json:"activity,omitempty"`
}

// The optional fields a View may name (CERTAIN, seed 002).
var (
	RoleViewFields         = []string{"Role", "Label", "IsGranted", "Status", "UniqueIdentifier", "BeginDate", "EndDate", "Extrinsic"}
	LearningPlanViewFields = []string{"LearningPlanName", "CycleStartDate", "CycleEndDate", "ReportingStartDate", "ReportingEndDate", "MinimumUnits", "RequestedUnits", "GrantedUnits", "Extrinsic"}
	ActivityViewFields     = []string{"ActivityTitle", "RequestedUnits", "GrantedUnits"}
)

// The elements GetRoleData writes for a role instance and a learning plan
// (CERTAIN, seed 002). An extrinsic field may not take one of these names.
var (
	RoleElements         = []string{"Role", "Label", "IsGranted", "Status", "UniqueIdentifier", "BeginDate", "EndDate", "Workflow", "LearningPlansForRoleInstance"}
	LearningPlanElements = []string{"LearningPlanType", "LearningPlanName", "CycleStartDate", "CycleEndDate", "ReportingStartDate", "ReportingEndDate",
		"MinimumUnits", "RequestedUnits", "GrantedUnits", "Workflow", "TaskGroupsForLearningPlan"}
)

// DefaultViews are the views of a plan file that names none: Summary
// leaves out extrinsic fields, IsGranted and the reporting window; Detail
// returns every field.
func DefaultViews() Views {
	return Views{
		Summary: View{
			Role:         []string{"Role", "Label", "Status", "UniqueIdentifier", "BeginDate", "EndDate"},
			LearningPlan: []string{"LearningPlanName", "CycleStartDate", "CycleEndDate", "MinimumUnits", "RequestedUnits", "GrantedUnits"},
			Activity:     ActivityViewFields,
		},
		Detail: View{Role: RoleViewFields, LearningPlan: LearningPlanViewFields, Activity: ActivityViewFields},
	}
}

// PlanProblem is what is wrong with a plan file, at a field path such as
// roles[0].learningPlans[1].cycle.
type PlanProblem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"` // set by the file reader
}

func (p PlanProblem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Message)
	}
	return p.Path + ": " + p.Message
}

// CheckPlans returns every problem of p, with the path of its field.
func CheckPlans(p *Plans) []PlanProblem {
	var ps []PlanProblem
	add := func(path, format string, args ...any) {
		ps = append(ps, PlanProblem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if len(p.Roles) == 0 {
		add("roles", "a plan file defines at least one role")
	}
	roles := map[string]bool{}
	// A field name is spelled one way across the plan set, at each level:
	// GetRoleData's one RoleInstance (LearningPlanForRoleInstance) type
	// carries the fields of every role (plan), and clients in languages
	// that ignore case could not tell two spellings apart.
	spelled := map[string]map[string]string{"role": {}, "learningPlan": {}}
	extrinsic := func(path, level string, names, standard []string) {
		seen := map[string]bool{}
		for k, name := range names {
			fp := fmt.Sprintf("%s.extrinsicFields[%d]", path, k)
			key := strings.ToLower(name)
			switch {
			case !xmlName(name):
				add(fp, "%q: a field name is letters, digits and _, starting with a letter, at most 100 characters (it becomes an XML element)", name)
			case strings.HasPrefix(key, "xml"):
				add(fp, "%q: XML reserves names that begin with xml", name)
			case slices.ContainsFunc(standard, func(s string) bool { return strings.EqualFold(s, name) }):
				add(fp, "%q is an element GetRoleData already writes at this level (%s)", name, strings.Join(standard, ", "))
			case seen[key]:
				add(fp, "%q is named twice", name)
			case spelled[level][key] != "" && spelled[level][key] != name:
				add(fp, "%q is spelled %q elsewhere in this file; spell it one way", name, spelled[level][key])
			default:
				spelled[level][key] = name
			}
			seen[key] = true
		}
	}
	for i, r := range p.Roles {
		rp := fmt.Sprintf("roles[%d]", i)
		extrinsic(rp, "role", r.ExtrinsicFields, RoleElements)
		plans := map[string]bool{}
		switch key := strings.ToLower(strings.TrimSpace(r.Role)); {
		case key == "":
			add(rp+".role", "a role needs a name (Practitioner)")
		case len(r.Role) > 50:
			add(rp+".role", "a role is at most 50 characters")
		case roles[key]:
			add(rp+".role", "role %s is defined twice", r.Role)
		default:
			roles[key] = true
		}
		for j, pl := range r.LearningPlans {
			pp := fmt.Sprintf("%s.learningPlans[%d]", rp, j)
			if pl.Type != PlanApplication && pl.Type != PlanMaintenance && pl.Type != PlanAppellate {
				add(pp+".type", "the type is Application, Maintenance or Appellate, not %q", pl.Type)
			}
			switch key := strings.ToLower(strings.TrimSpace(pl.Name)); {
			case key == "" || len(pl.Name) > 250:
				add(pp+".name", "a learning plan needs a name of at most 250 characters")
			case plans[key]:
				// Role instances hold plan-level field values by plan name.
				add(pp+".name", "learning plan %s is defined twice in this role", pl.Name)
			default:
				plans[key] = true
			}
			extrinsic(pp, "learningPlan", pl.ExtrinsicFields, LearningPlanElements)
			c := pl.Cycle
			switch {
			case c.Rolling() && (!c.Start.IsZero() || !c.End.IsZero()):
				add(pp+".cycle", "a cycle has fixed dates (start, end) or a rolling length (years, months), not both")
			case c.Rolling() && (c.Years < 0 || c.Months < 0 || c.Years*12+c.Months > 240):
				add(pp+".cycle", "a rolling cycle lasts from one month to 20 years")
			case !c.Rolling() && (c.Start.IsZero() || c.End.IsZero()):
				add(pp+".cycle", "a cycle needs start and end dates, or years or months to roll from the role's begin date")
			case !c.Rolling() && c.End.Before(c.Start):
				add(pp+".cycle.end", "the cycle ends before it starts")
			}
			if pl.Reporting.StartOffsetDays < -3660 || pl.Reporting.StartOffsetDays > 3660 || pl.Reporting.EndOffsetDays < -3660 || pl.Reporting.EndOffsetDays > 3660 {
				add(pp+".reporting", "reporting offsets are at most ten years")
			}
			if pl.MinimumUnits < 0 {
				add(pp+".minimumUnits", "the minimum units cannot be negative")
			}
			groups := map[string]bool{}
			for k, g := range pl.TaskGroups {
				gp := fmt.Sprintf("%s.taskGroups[%d]", pp, k)
				key := strings.ToLower(strings.TrimSpace(g.Name))
				switch {
				case key == "" || len(g.Name) > 250:
					add(gp+".name", "a task group needs a name of at most 250 characters")
				case groups[key]:
					add(gp+".name", "task group %s is defined twice in this plan", g.Name)
				}
				groups[key] = true
				if g.RequiredUnits < 0 {
					add(gp+".requiredUnits", "the required units cannot be negative")
				}
				for _, b := range g.Filter.Boards {
					if _, ok := Boards.Lookup(b); !ok {
						add(gp+".filter.boards", "%q is not a board cmex knows (%s)", b, strings.Join(Boards.Values(), ", "))
					}
				}
				for _, t := range g.Filter.ActivityTypes {
					if _, ok := ActivityTypes.Lookup(t); !ok {
						add(gp+".filter.activityTypes", "%q is not a PARS activity type", t)
					}
				}
			}
		}
	}
	for name, v := range map[string]View{"views.summary": p.Views.Summary, "views.detail": p.Views.Detail} {
		for level, fields := range map[string][2][]string{
			"role": {v.Role, RoleViewFields}, "learningPlan": {v.LearningPlan, LearningPlanViewFields}, "activity": {v.Activity, ActivityViewFields}} {
			for _, f := range fields[0] {
				if !slices.Contains(fields[1], f) {
					add(name+"."+level, "%q is not a field of this level (%s)", f, strings.Join(fields[1], ", "))
				}
			}
		}
	}
	slices.SortStableFunc(ps, func(a, b PlanProblem) int { return strings.Compare(a.Path, b.Path) })
	return ps
}

// Role returns the definition of a role, compared without regard to case.
func (p *Plans) Role(name string) (*RoleDefinition, bool) {
	for i := range p.Roles {
		if strings.EqualFold(p.Roles[i].Role, strings.TrimSpace(name)) {
			return &p.Roles[i], true
		}
	}
	return nil, false
}

// RoleInstance is a person's holding of a credential role, as a
// member-management system knows it.
type RoleInstance struct {
	ID               int64    `json:"id"`
	PersonID         PersonID `json:"personId"`
	Role             string   `json:"role"`
	Label            string   `json:"label,omitempty"`
	Status           string   `json:"status,omitempty"` // client-specific: Member-Active
	UniqueIdentifier string   `json:"uniqueIdentifier,omitempty"`
	IsGranted        bool     `json:"isGranted"`
	BeginDate        Date     `json:"beginDate,omitzero"`
	EndDate          Date     `json:"endDate,omitzero"`
	// Extrinsic are the values of the role's extrinsic fields.
	Extrinsic []ExtrinsicItem `json:"extrinsic,omitempty"`
	// PlanExtrinsic are the values of the extrinsic fields of the role's
	// learning plans, each named by its plan.
	PlanExtrinsic []PlanExtrinsicItem `json:"planExtrinsic,omitempty"`
}

// ExtrinsicItem is the value of a client-specific field.
type ExtrinsicItem struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PlanExtrinsicItem is the value of a client-specific field of a learning
// plan, for one role instance.
type PlanExtrinsicItem struct {
	Plan  string `json:"plan"` // the learning plan's name
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CheckRoleInstance reports what is wrong with r, or nil.
func CheckRoleInstance(r *RoleInstance) error {
	var ps []string
	if strings.TrimSpace(r.Role) == "" || len(r.Role) > 50 {
		ps = append(ps, "a role instance needs a role of at most 50 characters")
	}
	if len(r.Label) > 50 || len(r.Status) > 50 || len(r.UniqueIdentifier) > 200 {
		ps = append(ps, "label and status are at most 50 characters, the unique identifier 200")
	}
	if !r.BeginDate.IsZero() && !r.EndDate.IsZero() && r.EndDate.Before(r.BeginDate) {
		ps = append(ps, "the role ends before it begins")
	}
	seen := map[string]bool{}
	field := func(plan, name string) {
		what := fmt.Sprintf("extrinsic field %q", name)
		if plan != "" {
			what = fmt.Sprintf("extrinsic field %q of learning plan %q", name, plan)
		}
		key := strings.ToLower(strings.TrimSpace(plan)) + "\x00" + strings.ToLower(name)
		switch {
		case !xmlName(name):
			ps = append(ps, what+": a name is letters, digits and _, starting with a letter (it becomes an XML element)")
		case seen[key]:
			ps = append(ps, what+" is given twice")
		}
		seen[key] = true
	}
	for _, x := range r.Extrinsic {
		field("", x.Name)
	}
	for _, x := range r.PlanExtrinsic {
		if strings.TrimSpace(x.Plan) == "" {
			ps = append(ps, fmt.Sprintf("extrinsic field %q needs the name of its learning plan", x.Name))
			continue
		}
		field(x.Plan, x.Name)
	}
	if len(ps) > 0 {
		return Errorf(EINVALID, "%s", strings.Join(ps, "; "))
	}
	return nil
}

// CheckRoleFields reports, as EINVALID, the extrinsic values of r that
// the plans p do not declare: a field its role does not name, a learning
// plan its role does not have, or a field that plan does not name.
// GetRoleData sends only declared fields, so an undeclared value would
// never be seen. The names of declared ones are respelled as p spells
// them.
func CheckRoleFields(r *RoleInstance, p *Plans) error {
	if len(r.Extrinsic) == 0 && len(r.PlanExtrinsic) == 0 {
		return nil
	}
	def, ok := p.Role(r.Role)
	if !ok {
		return Errorf(EINVALID, "role %s is not in the plans in force, so it has no extrinsic fields; declare them with extrinsicFields in the plan file", r.Role)
	}
	var ps []string
	for i, x := range r.Extrinsic {
		if name, ok := declared(def.ExtrinsicFields, x.Name); ok {
			r.Extrinsic[i].Name = name
			continue
		}
		ps = append(ps, fmt.Sprintf("role %s declares no extrinsic field %s (it declares: %s)", def.Role, x.Name, listOrNone(def.ExtrinsicFields)))
	}
	for i, x := range r.PlanExtrinsic {
		pl, ok := def.Plan(x.Plan)
		if !ok {
			names := make([]string, len(def.LearningPlans))
			for j, l := range def.LearningPlans {
				names[j] = l.Name
			}
			ps = append(ps, fmt.Sprintf("role %s has no learning plan %q (it has: %s)", def.Role, x.Plan, listOrNone(names)))
			continue
		}
		if name, ok := declared(pl.ExtrinsicFields, x.Name); ok {
			r.PlanExtrinsic[i].Plan, r.PlanExtrinsic[i].Name = pl.Name, name
			continue
		}
		ps = append(ps, fmt.Sprintf("learning plan %s declares no extrinsic field %s (it declares: %s)", pl.Name, x.Name, listOrNone(pl.ExtrinsicFields)))
	}
	if len(ps) > 0 {
		return Errorf(EINVALID, "%s", strings.Join(ps, "; "))
	}
	return nil
}

// declared returns the spelling in names of name, compared without
// regard to case.
func declared(names []string, name string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return n, true
		}
	}
	return "", false
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// Plan returns the role's learning plan of this name, compared without
// regard to case.
func (r *RoleDefinition) Plan(name string) (*PlanDefinition, bool) {
	for i := range r.LearningPlans {
		if strings.EqualFold(r.LearningPlans[i].Name, strings.TrimSpace(name)) {
			return &r.LearningPlans[i], true
		}
	}
	return nil, false
}

func xmlName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i, r := range s {
		letter := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '_')) {
			return false
		}
	}
	return true
}

// PlanService keeps the plans and the persons' role instances.
type PlanService interface {
	// LoadPlans replaces the plans in force with p, after checking it
	// (EINVALID with the problems in the message otherwise).
	LoadPlans(ctx context.Context, p *Plans) error
	// CurrentPlans returns the plans in force, or ENOTFOUND before any is
	// loaded.
	CurrentPlans(ctx context.Context) (*Plans, error)
	// PlanSets returns the plan sets ever loaded, newest (the one in
	// force) first, at most limit (all when limit is 0 or less).
	PlanSets(ctx context.Context, limit int) ([]*PlanSet, error)
	// SaveRoleInstance adds a role instance, or replaces the person's
	// instance of the same role and label. Its extrinsic values must be
	// of fields the plans in force declare (CheckRoleFields), once plans
	// are loaded.
	SaveRoleInstance(ctx context.Context, r *RoleInstance) error
	// RoleInstances returns a person's role instances, by role and label.
	RoleInstances(ctx context.Context, person PersonID) ([]*RoleInstance, error)
	// PersonsByIdentifier returns the persons holding an identifier with
	// this value, of any kind (board id, licence, NPI, OCI ID) or as a role
	// instance's unique identifier.
	PersonsByIdentifier(ctx context.Context, value string) ([]PersonID, error)
	// PersonCredits returns every credit claimed for a person: the learner
	// records providers reported (not rejected or deleted), verified when
	// Accepted or Approved.
	PersonCredits(ctx context.Context, person PersonID) ([]Credit, error)
}

// AddDays returns the date n days after d (before, for negative n).
func (d Date) AddDays(n int) Date { return d.addDate(0, 0, n) }

// addDate returns d moved by years, months and days, as time.AddDate does.
func (d Date) addDate(years, months, days int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).AddDate(years, months, days))
}

// ProgressOf computes where a person stands today in each of her instances
// of role (compared without regard to case; "" for every role), under the
// plans in force. A role the plans do not define has no learning plans.
func ProgressOf(ctx context.Context, ps PlanService, person PersonID, role string, today Date) ([]RoleProgress, error) {
	instances, err := ps.RoleInstances(ctx, person)
	if err != nil {
		return nil, err
	}
	plans, err := ps.CurrentPlans(ctx)
	if ErrorCode(err) == ENOTFOUND {
		plans, err = &Plans{}, nil
	}
	if err != nil {
		return nil, err
	}
	var credits []Credit
	out := []RoleProgress{}
	for _, ri := range instances {
		if role != "" && !strings.EqualFold(ri.Role, strings.TrimSpace(role)) {
			continue
		}
		if credits == nil {
			if credits, err = ps.PersonCredits(ctx, person); err != nil {
				return nil, err
			}
		}
		def, ok := plans.Role(ri.Role)
		if !ok {
			def = &RoleDefinition{Role: ri.Role}
		}
		out = append(out, Progress(def, *ri, credits, today))
	}
	return out, nil
}
