// Package planfile reads credential plan files: YAML (and so JSON, which
// is YAML too) describing roles, their learning plans and task groups, and
// the field views of GetRoleData. Every problem is reported with the line
// and the path of its field.
package planfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cmexhub/cmex"
)

// MaxBytes bounds a plan file.
const MaxBytes = 1 << 20

// file is the plan file as written, with the names operators use.
type file struct {
	Roles []struct {
		Role            string   `yaml:"role"`
		ExtrinsicFields []string `yaml:"extrinsicFields"`
		LearningPlans   []struct {
			Type  string `yaml:"type"`
			Name  string `yaml:"name"`
			Cycle struct {
				Start  date `yaml:"start"`
				End    date `yaml:"end"`
				Years  int  `yaml:"years"`
				Months int  `yaml:"months"`
			} `yaml:"cycle"`
			Reporting struct {
				StartOffsetDays int `yaml:"startOffsetDays"`
				EndOffsetDays   int `yaml:"endOffsetDays"`
			} `yaml:"reporting"`
			MinimumUnits    units    `yaml:"minimumUnits"`
			ExtrinsicFields []string `yaml:"extrinsicFields"`
			TaskGroups      []struct {
				Name          string `yaml:"name"`
				RequiredUnits units  `yaml:"requiredUnits"`
				Filter        struct {
					Certifications []string `yaml:"certifications"`
					Boards         []string `yaml:"boards"`
					CreditTypes    []string `yaml:"creditTypes"`
					Specialties    []string `yaml:"specialties"`
					ActivityTypes  []string `yaml:"activityTypes"`
					SelfAttested   *bool    `yaml:"selfAttested"`
				} `yaml:"filter"`
				RequiredActivities []string `yaml:"requiredActivities"`
			} `yaml:"taskGroups"`
		} `yaml:"learningPlans"`
	} `yaml:"roles"`
	Views *struct {
		Summary view `yaml:"summary"`
		Detail  view `yaml:"detail"`
	} `yaml:"views"`
}

type view struct {
	Role         []string `yaml:"role"`
	LearningPlan []string `yaml:"learningPlan"`
	Activity     []string `yaml:"activity"`
}

// units are credits or points: 25, 2.5, "2.50".
type units cmex.Points

func (u *units) UnmarshalYAML(n *yaml.Node) error {
	p, err := cmex.ParsePoints(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: units: %v", n.Line, err)
	}
	*u = units(p)
	return nil
}

// date is YYYY-MM-DD.
type date cmex.Date

func (d *date) UnmarshalYAML(n *yaml.Node) error {
	v, _, err := cmex.ParseDate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = date(v)
	return nil
}

// Error lists every problem of a plan file.
type Error struct{ Problems []cmex.PlanProblem }

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	return strings.Join(msgs, "\n")
}

// Read parses and checks a plan file. Its problems come back as *Error.
func Read(r io.Reader) (*cmex.Plans, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBytes {
		return nil, &Error{[]cmex.PlanProblem{{Path: "(file)", Message: fmt.Sprintf("larger than %d bytes", MaxBytes)}}}
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, &Error{yamlProblems(err)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{yamlProblems(err)}
	}
	p := convert(&f)
	if ps := cmex.CheckPlans(p); len(ps) > 0 {
		for i := range ps {
			ps[i].Line = lineOf(&root, ps[i].Path)
		}
		return nil, &Error{ps}
	}
	return p, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlProblems turns the parser's errors ("line 7: field colour not found
// in type …") into problems with lines.
func yamlProblems(err error) []cmex.PlanProblem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else if errors.Is(err, io.EOF) {
		msgs = []string{"the file is empty"}
	} else {
		msgs = []string{err.Error()}
	}
	var out []cmex.PlanProblem
	for _, m := range msgs {
		p := cmex.PlanProblem{Path: "(file)", Message: strings.TrimPrefix(m, "yaml: ")}
		if sub := lineRE.FindStringSubmatch(p.Message); sub != nil {
			p.Line, _ = strconv.Atoi(sub[1])
			p.Message = sub[2]
			// Our own unmarshalers prefix their line too.
			if inner := lineRE.FindStringSubmatch(p.Message); inner != nil {
				p.Line, _ = strconv.Atoi(inner[1])
				p.Message = inner[2]
			}
		}
		p.Message = strings.ReplaceAll(p.Message, "in type planfile.", "in ")
		out = append(out, p)
	}
	return out
}

func convert(f *file) *cmex.Plans {
	p := &cmex.Plans{Views: cmex.DefaultViews()}
	if f.Views != nil {
		p.Views = cmex.Views{
			Summary: cmex.View(f.Views.Summary),
			Detail:  cmex.View(f.Views.Detail),
		}
	}
	for _, r := range f.Roles {
		rd := cmex.RoleDefinition{Role: strings.TrimSpace(r.Role), ExtrinsicFields: trimmed(r.ExtrinsicFields)}
		for _, pl := range r.LearningPlans {
			pd := cmex.PlanDefinition{
				Type: strings.TrimSpace(pl.Type), Name: strings.TrimSpace(pl.Name), MinimumUnits: cmex.Points(pl.MinimumUnits),
				Cycle:           cmex.CycleDefinition{Start: cmex.Date(pl.Cycle.Start), End: cmex.Date(pl.Cycle.End), Years: pl.Cycle.Years, Months: pl.Cycle.Months},
				Reporting:       cmex.ReportingDefinition(pl.Reporting),
				ExtrinsicFields: trimmed(pl.ExtrinsicFields),
			}
			for _, g := range pl.TaskGroups {
				pd.TaskGroups = append(pd.TaskGroups, cmex.TaskGroupDefinition{
					Name: strings.TrimSpace(g.Name), RequiredUnits: cmex.Points(g.RequiredUnits),
					Filter: cmex.CreditFilter(g.Filter), RequiredActivities: g.RequiredActivities,
				})
			}
			rd.LearningPlans = append(rd.LearningPlans, pd)
		}
		p.Roles = append(p.Roles, rd)
	}
	return p
}

func trimmed(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, strings.TrimSpace(n))
	}
	return out
}

var stepRE = regexp.MustCompile(`^([A-Za-z]+)(?:\[(\d+)\])?$`)

// lineOf finds the line of the field at path (roles[1].learningPlans[0].type)
// in the document, or of the nearest enclosing one that exists.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range strings.Split(path, ".") {
		m := stepRE.FindStringSubmatch(step)
		if m == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == m[1] {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		n = next
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}
