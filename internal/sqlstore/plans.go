package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// PlanService implements cmex.PlanService.
type PlanService struct{ db *DB }

var _ cmex.PlanService = (*PlanService)(nil)

// NewPlanService returns the plans and role instances of db.
func NewPlanService(db *DB) *PlanService { return &PlanService{db: db} }

// LoadPlans implements cmex.PlanService.
func (s *PlanService) LoadPlans(ctx context.Context, p *cmex.Plans) error {
	if ps := cmex.CheckPlans(p); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, x := range ps {
			msgs[i] = x.String()
		}
		return cmex.Errorf(cmex.EINVALID, "%s", strings.Join(msgs, "; "))
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		if _, err := tx.exec(ctx, `INSERT INTO plan_sets (document, loaded_at, loaded_by) VALUES (?, ?, ?)`, string(doc), s.db.now(),
			auditFrom(ctx, "", "", "", "").actor); err != nil {
			return "", "", "", fmt.Errorf("load plans: %w", err)
		}
		return "plans.load", fmt.Sprintf("%d roles", len(p.Roles)), "", nil
	})
}

// CurrentPlans implements cmex.PlanService.
func (s *PlanService) CurrentPlans(ctx context.Context) (*cmex.Plans, error) {
	var doc string
	err := s.db.read().queryRow(ctx, `SELECT document FROM plan_sets ORDER BY id DESC LIMIT 1`).Scan(&doc)
	if err != nil {
		return nil, notFound(err, "no plans are loaded; load a plan file with cmex plans load")
	}
	p := new(cmex.Plans)
	if err := json.Unmarshal([]byte(doc), p); err != nil {
		return nil, fmt.Errorf("decode plans: %w", err)
	}
	return p, nil
}

// PlanSets implements cmex.PlanService.
func (s *PlanService) PlanSets(ctx context.Context, limit int) ([]*cmex.PlanSet, error) {
	q, args := `SELECT id, document, loaded_at, loaded_by FROM plan_sets ORDER BY id DESC`, []any{}
	if limit > 0 {
		q, args = q+` LIMIT ?`, append(args, limit)
	}
	rows, err := s.db.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("plan sets: %w", err)
	}
	defer rows.Close()
	out := []*cmex.PlanSet{}
	for rows.Next() {
		ps := &cmex.PlanSet{Plans: new(cmex.Plans)}
		var doc string
		if err := rows.Scan(&ps.ID, &doc, &ps.LoadedAt, &ps.LoadedBy); err != nil {
			return nil, fmt.Errorf("plan sets: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), ps.Plans); err != nil {
			return nil, fmt.Errorf("decode plan set %d: %w", ps.ID, err)
		}
		ps.LoadedAt = ps.LoadedAt.UTC()
		out = append(out, ps)
	}
	return out, rows.Err()
}

// SaveRoleInstance implements cmex.PlanService.
func (s *PlanService) SaveRoleInstance(ctx context.Context, r *cmex.RoleInstance) error {
	r.Role, r.Label, r.UniqueIdentifier = strings.TrimSpace(r.Role), strings.TrimSpace(r.Label), strings.TrimSpace(r.UniqueIdentifier)
	if err := cmex.CheckRoleInstance(r); err != nil {
		return err
	}
	var one int
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		if err := tx.queryRow(ctx, `SELECT 1 FROM persons WHERE id = ?`, r.PersonID).Scan(&one); err != nil {
			return "", "", "", notFound(err, fmt.Sprintf("person %d is not in the learner registry", r.PersonID))
		}
		if len(r.Extrinsic) > 0 || len(r.PlanExtrinsic) > 0 {
			// Extrinsic values are checked against the plans in force,
			// read in the same transaction; before any plans are loaded
			// there is nothing to check them against.
			var plans string
			err := tx.queryRow(ctx, `SELECT document FROM plan_sets ORDER BY id DESC LIMIT 1`).Scan(&plans)
			switch {
			case isNoRows(err):
			case err != nil:
				return "", "", "", fmt.Errorf("plans in force: %w", err)
			default:
				p := new(cmex.Plans)
				if err := json.Unmarshal([]byte(plans), p); err != nil {
					return "", "", "", fmt.Errorf("decode plans: %w", err)
				}
				if err := cmex.CheckRoleFields(r, p); err != nil {
					return "", "", "", err
				}
			}
		}
		r.ID = 0 // the row's id, not part of the document
		doc, err := json.Marshal(r)
		if err != nil {
			return "", "", "", err
		}
		err = tx.queryRow(ctx, `INSERT INTO role_instances (person_id, role_key, label, unique_identifier, document, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (person_id, role_key, label) DO UPDATE
			SET unique_identifier = excluded.unique_identifier, document = excluded.document, updated_at = excluded.updated_at
			RETURNING id`, r.PersonID, strings.ToLower(r.Role), r.Label, cmex.IDKey(r.UniqueIdentifier), string(doc), s.db.now()).Scan(&r.ID)
		if err != nil {
			return "", "", "", fmt.Errorf("save role instance: %w", err)
		}
		return "role-instance.save", fmt.Sprint(r.PersonID), fmt.Sprintf("role %s, label %s", r.Role, r.Label), nil
	})
}

// RoleInstances implements cmex.PlanService.
func (s *PlanService) RoleInstances(ctx context.Context, person cmex.PersonID) ([]*cmex.RoleInstance, error) {
	rows, err := s.db.read().query(ctx, `SELECT id, document FROM role_instances WHERE person_id = ? ORDER BY role_key, label, id`, person)
	if err != nil {
		return nil, fmt.Errorf("role instances: %w", err)
	}
	defer rows.Close()
	out := []*cmex.RoleInstance{}
	for rows.Next() {
		var id int64
		var doc string
		if err := rows.Scan(&id, &doc); err != nil {
			return nil, err
		}
		r := new(cmex.RoleInstance)
		if err := json.Unmarshal([]byte(doc), r); err != nil {
			return nil, fmt.Errorf("decode role instance %d: %w", id, err)
		}
		r.ID = id
		out = append(out, r)
	}
	return out, rows.Err()
}

// PersonsByIdentifier implements cmex.PlanService.
func (s *PlanService) PersonsByIdentifier(ctx context.Context, value string) ([]cmex.PersonID, error) {
	key := cmex.IDKey(value)
	if key == "" {
		return nil, nil
	}
	ids, err := scanColumn[cmex.PersonID](s.db.read().query(ctx, `SELECT person_id FROM person_identifiers WHERE value = ?
		UNION SELECT person_id FROM role_instances WHERE unique_identifier = ? ORDER BY 1`, key, key))
	if err != nil {
		return nil, fmt.Errorf("persons by identifier: %w", err)
	}
	return ids, nil
}

// PersonCredits implements cmex.PlanService: the learner records
// providers reported for the person, and the self-attested credits of the
// gateway accounts bound to a society membership of hers or linked to her
// (account_persons).
func (s *PlanService) PersonCredits(ctx context.Context, person cmex.PersonID) ([]cmex.Credit, error) {
	recs, activities, err := personRecords(ctx, s.db, person, false)
	if err != nil {
		return nil, err
	}
	out := []cmex.Credit{}
	for _, r := range recs {
		a := activities[r.ActivityID]
		out = append(out, cmex.Credit{
			Title: a.Title, ActivityID: r.ActivityID, Date: r.CompletionDate, Reported: cmex.DateOf(r.SubmittedAt),
			Certification: r.Certification, Board: r.Board, CreditType: r.CreditType, Points: r.Points,
			Specialties: a.Specialties, ActivityType: a.Type, Verified: verified(r),
		})
	}
	rows, err := s.db.read().query(ctx, `SELECT c.id, c.document, c.created_at FROM self_credits c
		WHERE c.account_id IN (SELECT b.account_id FROM gateway_bindings b
			JOIN society_members m ON m.society_id = b.society_id AND m.member_id = b.member_id WHERE m.person_id = ?
			UNION SELECT account_id FROM account_persons WHERE person_id = ?)
		ORDER BY c.id`, person, person)
	if err != nil {
		return nil, fmt.Errorf("person's self-attested credits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var doc string
		var created time.Time
		if err := rows.Scan(&id, &doc, &created); err != nil {
			return nil, err
		}
		var ceu cmex.CEU
		if err := json.Unmarshal([]byte(doc), &ceu); err != nil {
			return nil, fmt.Errorf("decode self-attested credit %d: %w", id, err)
		}
		out = append(out, selfCredit(&ceu, cmex.DateOf(created.UTC())))
	}
	return out, rows.Err()
}

// verified reports whether a learner record counts as granted: an AMA
// record once accepted, an MOC record once its board approved it.
func verified(r *cmex.LearnerRecord) bool {
	if r.IsMOC() {
		return r.Status == cmex.StatusApproved
	}
	return r.Status == cmex.StatusAccepted || r.Status == cmex.StatusApproved
}

// selfCredit is a self-attested CEU as a credit: its Category 1 credits as
// AMA PRA Category 1, or else its largest detail in that detail's category.
func selfCredit(c *cmex.CEU, reported cmex.Date) cmex.Credit {
	cr := cmex.Credit{Title: c.Title, Date: c.Date, Reported: reported, ActivityType: c.ActivityType, SelfAttested: true}
	if p := c.Credits(cmex.CategoryAMA1); p > 0 {
		cr.Certification, cr.Points = cmex.CreditAMA, p
		return cr
	}
	for _, d := range c.Details {
		if d.Credits > cr.Points {
			cr.Certification, cr.Points = d.Category, d.Credits
		}
	}
	return cr
}
