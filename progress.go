package cmex

import (
	"slices"
	"strings"
)

// Credit is one credit a member claims, as credential progress counts it.
type Credit struct {
	Title         string     `json:"title"`
	ActivityID    ActivityID `json:"activityId,omitempty"`
	Date          Date       `json:"date"`     // when it was earned
	Reported      Date       `json:"reported"` // when it reached cmex
	Certification string     `json:"certification"`
	Board         string     `json:"board,omitempty"`
	CreditType    string     `json:"creditType,omitempty"`
	Points        Points     `json:"points"`
	Specialties   []string   `json:"specialties,omitempty"`
	ActivityType  string     `json:"activityType,omitempty"`
	SelfAttested  bool       `json:"selfAttested,omitempty"`
	// Verified credits count as granted: provider-reported records that
	// are Accepted or Approved. Self-attested ones never are.
	Verified bool `json:"verified"`
}

// Workflow statuses (CERTAIN, seed 002).
const (
	WorkflowCompletedSuccessfully   = "Completed Successfully"
	WorkflowCompletedUnsuccessfully = "Completed Unsuccessfully"
	WorkflowOwnerComplete           = "Owner Complete"
	WorkflowIncomplete              = "Incomplete"
)

// Workflow is where an entity stands: its step and the step's title.
type Workflow struct {
	CurrentStep      int    `json:"currentStep"`
	CurrentStepTitle string `json:"currentStepTitle"`
	Status           string `json:"status"`
}

// The workflows cmex reports. The seed leaves steps to each client's
// configuration; cmex's plan workflow has three: the member reports
// (1), her credits await verification (2), the cycle is done (3).
var (
	workflowReporting = Workflow{1, "Report activities", WorkflowIncomplete}
	workflowVerifying = Workflow{2, "Awaiting verification of reported activities", WorkflowOwnerComplete}
	workflowMet       = Workflow{3, "Requirements met", WorkflowCompletedSuccessfully}
	workflowNotMet    = Workflow{3, "Reporting window closed with requirements not met", WorkflowCompletedUnsuccessfully}
	workflowNoPlan    = Workflow{1, "No learning plan", WorkflowIncomplete}
	// An activity is reported (1) and then verified (2).
	workflowActivityReported = Workflow{1, "Awaiting verification", WorkflowOwnerComplete}
	workflowActivityVerified = Workflow{2, "Verified", WorkflowCompletedSuccessfully}
	workflowActivityMissing  = Workflow{1, "Not yet completed", WorkflowIncomplete}
)

// RoleProgress is where a role instance stands.
// Its Extrinsic are the role's extrinsic fields the plans declare, in
// their order, with the instance's values; the values of plan-level fields
// are in each plan's progress.
type RoleProgress struct {
	RoleInstance
	Workflow Workflow       `json:"workflow"`
	Plans    []PlanProgress `json:"learningPlans"`
	// Undeclared are the instance's extrinsic values of fields the plans
	// in force do not declare (a plan-level one names its plan): kept with
	// the instance, and sent again if a plan file declares them again, but
	// not sent by GetRoleData, whose WSDL names declared fields only.
	Undeclared []PlanExtrinsicItem `json:"undeclaredExtrinsic,omitempty"`
}

// PlanProgress is where a learning plan stands in its current cycle.
type PlanProgress struct {
	Type           string `json:"learningPlanType"`
	Name           string `json:"learningPlanName"`
	CycleStart     Date   `json:"cycleStartDate"`
	CycleEnd       Date   `json:"cycleEndDate"`
	ReportingStart Date   `json:"reportingStartDate"`
	ReportingEnd   Date   `json:"reportingEndDate"`
	MinimumUnits   Points `json:"minimumUnits"`
	RequestedUnits Points `json:"requestedUnits"`
	GrantedUnits   Points `json:"grantedUnits"`
	// Extrinsic are the plan's extrinsic fields, in the plan's order, with
	// the role instance's values (a field without one is left out).
	Extrinsic  []ExtrinsicItem     `json:"extrinsic,omitempty"`
	Workflow   Workflow            `json:"workflow"`
	TaskGroups []TaskGroupProgress `json:"taskGroups"`
}

// TaskGroupProgress is where a task group stands.
type TaskGroupProgress struct {
	Name           string             `json:"taskGroupName"`
	Complete       bool               `json:"complete"`
	Required       bool               `json:"required"`
	RequiredUnits  Points             `json:"requiredUnits"`
	RequestedUnits Points             `json:"requestedUnits"`
	GrantedUnits   Points             `json:"grantedUnits"`
	Activities     []ActivityProgress `json:"activities"`
}

// ActivityProgress is one credit counted toward a task group, or a required
// activity not yet completed.
type ActivityProgress struct {
	Title          string   `json:"activityTitle"`
	RequestedUnits Points   `json:"requestedUnits"`
	GrantedUnits   Points   `json:"grantedUnits"`
	Workflow       Workflow `json:"workflow"`
}

// CurrentCycle returns the plan's cycle that contains today: the fixed one, or
// the rolling cycle from the role's begin date (the first one before it
// begins). With no begin date a rolling cycle starts on 1 January of
// today's year.
func (p *PlanDefinition) CurrentCycle(begin, today Date) (start, end Date) {
	c := p.Cycle
	if !c.Rolling() {
		return c.Start, c.End
	}
	if begin.IsZero() {
		begin = Date{Year: today.Year, Month: 1, Day: 1}
	}
	months := c.Years*12 + c.Months
	start = begin
	if !today.Before(begin) {
		elapsed := (today.Year-begin.Year)*12 + int(today.Month) - int(begin.Month)
		n := elapsed / months
		start = begin.addDate(0, n*months, 0)
		if today.Before(start) { // the day of the month had not come yet
			start = begin.addDate(0, (n-1)*months, 0)
		}
	}
	return start, start.addDate(0, months, -1)
}

// Progress computes where a role instance stands today under def: for
// each learning plan, the credits earned in its current cycle and reported
// within its reporting window, each counted toward the first task group
// (in the plan's order) whose filter accepts it, so that no credit counts
// twice in one plan. RequestedUnits count every such credit, GrantedUnits
// the verified ones. A task group is Complete when the requested units
// and the required activities meet its requirements (the member's part);
// the plan is Owner Complete when every required group is complete and
// its minimum units are requested, Completed Successfully when the same
// holds for granted units, and Completed Unsuccessfully when its reporting
// window has closed short of that.
func Progress(def *RoleDefinition, ri RoleInstance, credits []Credit, today Date) RoleProgress {
	rp := RoleProgress{RoleInstance: ri, Plans: []PlanProgress{}, Workflow: workflowNoPlan}
	rp.Extrinsic, rp.PlanExtrinsic = nil, nil
	sent := map[*ExtrinsicItem]bool{}
	for _, name := range def.ExtrinsicFields {
		if i := slices.IndexFunc(ri.Extrinsic, func(x ExtrinsicItem) bool { return strings.EqualFold(strings.TrimSpace(x.Name), name) }); i >= 0 {
			rp.Extrinsic = append(rp.Extrinsic, ExtrinsicItem{Name: name, Value: ri.Extrinsic[i].Value})
			sent[&ri.Extrinsic[i]] = true
		}
	}
	for i, x := range ri.Extrinsic {
		if !sent[&ri.Extrinsic[i]] {
			rp.Undeclared = append(rp.Undeclared, PlanExtrinsicItem{Name: x.Name, Value: x.Value})
		}
	}
	planSent := map[*PlanExtrinsicItem]bool{}
	for i := range def.LearningPlans {
		pl := &def.LearningPlans[i]
		p := planProgress(pl, ri, credits, today)
		for _, name := range pl.ExtrinsicFields {
			j := slices.IndexFunc(ri.PlanExtrinsic, func(x PlanExtrinsicItem) bool {
				return strings.EqualFold(strings.TrimSpace(x.Plan), pl.Name) && strings.EqualFold(strings.TrimSpace(x.Name), name)
			})
			if j >= 0 {
				p.Extrinsic = append(p.Extrinsic, ExtrinsicItem{Name: name, Value: ri.PlanExtrinsic[j].Value})
				planSent[&ri.PlanExtrinsic[j]] = true
			}
		}
		rp.Plans = append(rp.Plans, p)
	}
	for i, x := range ri.PlanExtrinsic {
		if !planSent[&ri.PlanExtrinsic[i]] {
			rp.Undeclared = append(rp.Undeclared, x)
		}
	}
	if len(rp.Plans) > 0 {
		// The role stands where its first plan in force stands.
		rp.Workflow = rp.Plans[0].Workflow
		for _, p := range rp.Plans {
			if !today.Before(p.CycleStart) && !today.After(p.ReportingEnd) {
				rp.Workflow = p.Workflow
				break
			}
		}
	}
	return rp
}

func planProgress(def *PlanDefinition, ri RoleInstance, credits []Credit, today Date) PlanProgress {
	p := PlanProgress{Type: def.Type, Name: def.Name, MinimumUnits: def.MinimumUnits, TaskGroups: []TaskGroupProgress{}}
	p.CycleStart, p.CycleEnd = def.CurrentCycle(ri.BeginDate, today)
	p.ReportingStart = p.CycleStart.addDate(0, 0, def.Reporting.StartOffsetDays)
	p.ReportingEnd = p.CycleEnd.addDate(0, 0, def.Reporting.EndOffsetDays)

	var inWindow []*Credit
	for i := range credits {
		c := &credits[i]
		if c.Date.Before(p.CycleStart) || c.Date.After(p.CycleEnd) || c.Reported.Before(p.ReportingStart) || c.Reported.After(p.ReportingEnd) {
			continue
		}
		inWindow = append(inWindow, c)
	}
	slices.SortStableFunc(inWindow, func(a, b *Credit) int { return a.Date.Compare(b.Date) })

	metRequested, metGranted := true, true
	if len(def.TaskGroups) == 0 {
		for _, c := range inWindow {
			p.RequestedUnits += c.Points
			if c.Verified {
				p.GrantedUnits += c.Points
			}
		}
	}
	taken := make([]bool, len(inWindow))
	for _, g := range def.TaskGroups {
		tg := TaskGroupProgress{Name: g.Name, RequiredUnits: g.RequiredUnits, Required: g.RequiredUnits > 0 || len(g.RequiredActivities) > 0,
			Activities: []ActivityProgress{}}
		var requested, verified []*Credit
		for i, c := range inWindow {
			if taken[i] || !g.Filter.Matches(c) {
				continue
			}
			taken[i] = true
			requested = append(requested, c)
			a := ActivityProgress{Title: c.Title, RequestedUnits: c.Points, Workflow: workflowActivityReported}
			tg.RequestedUnits += c.Points
			if c.Verified {
				verified = append(verified, c)
				a.GrantedUnits, a.Workflow = c.Points, workflowActivityVerified
				tg.GrantedUnits += c.Points
			}
			tg.Activities = append(tg.Activities, a)
		}
		requestedActivities, grantedActivities := true, true
		for _, want := range g.RequiredActivities {
			if !hasActivity(requested, want) {
				requestedActivities = false
				tg.Activities = append(tg.Activities, ActivityProgress{Title: want, Workflow: workflowActivityMissing})
			}
			if !hasActivity(verified, want) {
				grantedActivities = false
			}
		}
		tg.Complete = tg.RequestedUnits >= g.RequiredUnits && requestedActivities
		if tg.Required {
			metRequested = metRequested && tg.Complete
			metGranted = metGranted && tg.GrantedUnits >= g.RequiredUnits && grantedActivities
		}
		p.RequestedUnits += tg.RequestedUnits
		p.GrantedUnits += tg.GrantedUnits
		p.TaskGroups = append(p.TaskGroups, tg)
	}
	switch {
	case metGranted && p.GrantedUnits >= p.MinimumUnits:
		p.Workflow = workflowMet
	case today.After(p.ReportingEnd):
		p.Workflow = workflowNotMet
	case metRequested && p.RequestedUnits >= p.MinimumUnits:
		p.Workflow = workflowVerifying
	default:
		p.Workflow = workflowReporting
	}
	return p
}

// hasActivity reports whether one of cs is the activity named by want: its
// title (compared as names are) or its ACCME Activity ID.
func hasActivity(cs []*Credit, want string) bool {
	want = strings.TrimSpace(want)
	for _, c := range cs {
		if NameKey(c.Title) == NameKey(want) || c.ActivityID != 0 && c.ActivityID.String() == want {
			return true
		}
	}
	return false
}
