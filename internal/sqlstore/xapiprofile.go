package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cmexhub/cmex"
)

// XAPIProfiles implements cmex.XAPIProfileService, and is the hook of the
// learning record store (XAPIHook) that turns completion statements into
// learner reports: judged by the same rules and written with their
// deliveries by the same code as SaveLearnerReport's (saveBatch), in the
// transaction that stores the statements.
type XAPIProfiles struct {
	db       *DB
	learners *LearnerService
}

var (
	_ cmex.XAPIProfileService = (*XAPIProfiles)(nil)
	_ XAPIHook                = (*XAPIProfiles)(nil)
)

// NewXAPIProfiles returns the profiles of db, writing learner records
// through learners.
func NewXAPIProfiles(db *DB, learners *LearnerService) *XAPIProfiles {
	return &XAPIProfiles{db: db, learners: learners}
}

// PutXAPIProfile implements cmex.XAPIProfileService.
func (s *XAPIProfiles) PutXAPIProfile(ctx context.Context, org cmex.OrganizationID, p *cmex.XAPIProfile) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `INSERT INTO xapi_profiles (organization_id, profile, updated) VALUES (?, ?, ?)
			ON CONFLICT (organization_id) DO UPDATE SET profile = excluded.profile, updated = excluded.updated`, org, string(b), s.db.now()); err != nil {
			return fmt.Errorf("store profile: %w", err)
		}
		return s.db.audit(ctx, tx, "xapi-profile.load", strconv.FormatInt(int64(org), 10), "")
	})
}

// XAPIProfile implements cmex.XAPIProfileService.
func (s *XAPIProfiles) XAPIProfile(ctx context.Context, org cmex.OrganizationID) (*cmex.XAPIProfile, error) {
	return s.profile(ctx, s.db.read(), org)
}

func (s *XAPIProfiles) profile(ctx context.Context, c conn, org cmex.OrganizationID) (*cmex.XAPIProfile, error) {
	var b string
	err := c.queryRowKept(ctx, `SELECT profile FROM xapi_profiles WHERE organization_id = ?`, org).Scan(&b)
	if isNoRows(err) {
		return cmex.DefaultXAPIProfile(), nil
	} else if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	p, ps := cmex.ParseXAPIProfile([]byte(b))
	if len(ps) != 0 {
		return nil, fmt.Errorf("stored profile of organization %d: %s", org, ps[0].Message)
	}
	return p, nil
}

// PutXAPIOutcome implements cmex.XAPIProfileService.
func (s *XAPIProfiles) PutXAPIOutcome(ctx context.Context, o *cmex.XAPIOutcome) error {
	return s.putOutcome(ctx, s.db.read(), o)
}

func (s *XAPIProfiles) putOutcome(ctx context.Context, c conn, o *cmex.XAPIOutcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	// Every completion stored comes here, in the group's transaction:
	// the statement is kept prepared.
	return c.execKept(ctx, func(err error) error { return fmt.Errorf("store outcome of statement %s: %w", o.StatementID, err) },
		`INSERT INTO xapi_outcomes (organization_id, statement_id, outcome, body, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (organization_id, statement_id) DO UPDATE SET outcome = excluded.outcome, body = excluded.body, at = excluded.at`,
		o.Organization, o.StatementID, o.Outcome, string(b), leaseTime(o.At))
}

// XAPIOutcome implements cmex.XAPIProfileService.
func (s *XAPIProfiles) XAPIOutcome(ctx context.Context, org cmex.OrganizationID, id string) (*cmex.XAPIOutcome, error) {
	return s.outcome(ctx, s.db.read(), org, id)
}

func (s *XAPIProfiles) outcome(ctx context.Context, c conn, org cmex.OrganizationID, id string) (*cmex.XAPIOutcome, error) {
	var b string
	err := c.queryRow(ctx, `SELECT body FROM xapi_outcomes WHERE organization_id = ? AND statement_id = ?`, org, id).Scan(&b)
	if isNoRows(err) {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "statement %s has no outcome", id)
	} else if err != nil {
		return nil, fmt.Errorf("read outcome: %w", err)
	}
	return decodeOutcome(org, b)
}

func decodeOutcome(org cmex.OrganizationID, b string) (*cmex.XAPIOutcome, error) {
	o := &cmex.XAPIOutcome{}
	if err := json.Unmarshal([]byte(b), o); err != nil {
		return nil, fmt.Errorf("decode outcome: %w", err)
	}
	o.Organization = org
	return o, nil
}

// XAPIOutcomes implements cmex.XAPIProfileService.
func (s *XAPIProfiles) XAPIOutcomes(ctx context.Context, org cmex.OrganizationID, outcome string, limit int) ([]*cmex.XAPIOutcome, error) {
	if limit <= 0 || limit > maxXAPIQuery {
		limit = maxXAPIQuery
	}
	q, args := `SELECT body FROM xapi_outcomes WHERE organization_id = ?`, []any{org}
	if outcome != "" {
		q, args = q+` AND outcome = ?`, append(args, outcome)
	}
	rows, err := s.db.read().query(ctx, q+` ORDER BY at DESC, statement_id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list outcomes: %w", err)
	}
	defer rows.Close()
	var out []*cmex.XAPIOutcome
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list outcomes: %w", err)
		}
		o, err := decodeOutcome(org, b)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// StatementsStored implements XAPIHook: each completion the provider's
// profile counts becomes an add, each voiding of a statement that made
// records a delete of them, judged together in tx; a refusal is an
// outcome, not an error, so the statements are stored all the same.
func (s *XAPIProfiles) StatementsStored(t Tx, calls []XAPIStored) error {
	tx := t.c
	if len(calls) == 0 {
		return nil
	}
	profiles := map[cmex.OrganizationID]*cmex.XAPIProfile{}
	var chs []cmex.LearnerChange
	var outs []*cmex.XAPIOutcome
	var from []context.Context // the call of each change
	for _, call := range calls {
		ctx := call.Ctx
		// One call stores a request's batch: one provider, one authority.
		var by *cmex.Principal
		principal := func(st *cmex.XAPIStatement) (cmex.Principal, error) {
			if by == nil {
				p, err := s.principal(ctx, tx, st)
				if err != nil {
					return p, err
				}
				by = &p
			}
			return *by, nil
		}
		for _, st := range call.Statements {
			var err error
			o := &cmex.XAPIOutcome{Organization: st.Organization, StatementID: st.ID, At: s.db.now()}
			if st.Voids != "" {
				// A target of this batch is stored voided and made no records
				// (below); one stored before has its outcome.
				target, err := s.outcome(ctx, tx, st.Organization, st.Voids)
				if cmex.ErrorCode(err) == cmex.ENOTFOUND {
					continue
				} else if err != nil {
					return err
				}
				if target.Outcome != cmex.OutcomeAccepted || target.Report == nil {
					continue
				}
				by, err := principal(st)
				if err != nil {
					return err
				}
				del := *target.Report
				del.Action = cmex.LearnerDelete
				target.At = o.At
				chs = append(chs, cmex.LearnerChange{Report: &del, By: by, Source: "xapi"})
				outs = append(outs, target)
				from = append(from, ctx)
				continue
			}
			p := profiles[st.Organization]
			if p == nil {
				if p, err = s.profile(ctx, tx, st.Organization); err != nil {
					return err
				}
				profiles[st.Organization] = p
			}
			if !p.Counts(st.Verb) {
				continue // no completion: Report would say so, decoding it first
			}
			rep, counts, ps := p.Report(st.JSON, func(id cmex.ActivityID) []cmex.CreditCertificate {
				return s.offered(ctx, tx, st.Organization, id)
			})
			if !counts {
				continue
			}
			// A statement voided as it is stored (by a voiding statement stored
			// before it, or in its batch) makes no records.
			var voided bool
			if err := tx.queryRowKept(ctx, `SELECT voided FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, st.Organization, st.ID).Scan(&voided); err != nil {
				return fmt.Errorf("read statement %s: %w", st.ID, err)
			}
			if voided {
				continue
			}
			by, err := principal(st)
			if err != nil {
				return err
			}
			o.Report = rep
			chs = append(chs, cmex.LearnerChange{Report: rep, Problems: ps, By: by, Source: "xapi"})
			outs = append(outs, o)
			from = append(from, ctx)
		}
	}
	if len(chs) == 0 {
		return nil
	}
	ctx := calls[0].Ctx
	res, err := s.learners.saveBatch(ctx, tx, chs, false)
	if err != nil {
		return err
	}
	var audit []auditRow
	for i, o := range outs {
		r := &res[i]
		audit = appendLearnerAudit(audit, auditFrom(from[i], cmex.PrincipalActor(chs[i].By), "", "", ""), &chs[i], r)
		switch {
		case chs[i].Report.Action == cmex.LearnerDelete && r.Outcome == cmex.OutcomeAccepted:
			o.Outcome = cmex.OutcomeVoided
		case chs[i].Report.Action == cmex.LearnerDelete:
			// The records were deleted already (by PARS, say), or never
			// made: the outcome stays what it was.
			continue
		default:
			o.Outcome, o.Problems = r.Outcome, r.Problems
			for _, rec := range r.Records {
				o.CreditIDs = append(o.CreditIDs, rec.CreditID)
			}
		}
		if err := s.putOutcome(from[i], tx, o); err != nil {
			return err
		}
	}
	return s.db.appendAudit(ctx, tx, audit)
}

// principal is who stored st: its provider, and the web-service user or
// key the store's authority names.
func (s *XAPIProfiles) principal(ctx context.Context, tx conn, st *cmex.XAPIStatement) (cmex.Principal, error) {
	var by cmex.Principal
	var provider, name string
	err := tx.queryRowKept(ctx, `SELECT provider_id, name FROM organizations WHERE id = ?`, st.Organization).Scan(&provider, &name)
	if err != nil {
		return by, fmt.Errorf("find the statement's provider: %w", err)
	}
	by.Organization = cmex.Organization{ID: st.Organization, Kind: cmex.OrgProvider, ProviderID: cmex.ProviderID(provider), Name: name}
	var m struct {
		Authority struct {
			Account struct{ Name string } `json:"account"`
		} `json:"authority"`
	}
	_ = json.Unmarshal(st.JSON, &m)
	by.User.Username = m.Authority.Account.Name
	return by, nil
}

// offered is what the provider's activity id offers (its credits with an
// amount), for a completion that names no credits; nil when it cannot
// tell, which the rules then refuse.
func (s *XAPIProfiles) offered(ctx context.Context, tx conn, org cmex.OrganizationID, id cmex.ActivityID) []cmex.CreditCertificate {
	r, err := scanActivityRow(tx.queryRowKept(ctx, `SELECT `+activityColumns+` FROM activities WHERE NOT deleted AND id = ?`, id))
	if err != nil || r.org != org {
		return nil
	}
	var out []cmex.CreditCertificate
	for _, c := range r.activity.Credits {
		if c.Amount != nil {
			out = append(out, cmex.CreditCertificate{Certification: c.Certification, Points: c.Amount})
		}
	}
	return out
}
