package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// ClaimService implements cmex.ClaimService: the links of physicians'
// accounts to registry persons, the claims that ask for them and the
// invitations that make them.
type ClaimService struct {
	db      *DB
	persons *PersonService
}

var _ cmex.ClaimService = (*ClaimService)(nil)

// NewClaimService returns the claims, links and invitations of db.
func NewClaimService(db *DB) *ClaimService {
	return &ClaimService{db: db, persons: NewPersonService(db)}
}

const claimColumns = "c.id, c.account_id, a.username, c.evidence, c.invitation_id, c.state, c.candidates, c.person_id, c.reason, c.created_at, c.decided_at, c.decided_by"

func scanClaim(row scanner) (*cmex.Claim, error) {
	c := new(cmex.Claim)
	var evidence, state, candidates string
	var invitation, person sql.NullInt64
	var decided sql.NullTime
	if err := row.Scan(&c.ID, &c.AccountID, &c.Username, &evidence, &invitation, &state, &candidates, &person, &c.Reason, &c.CreatedAt, &decided, &c.DecidedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(evidence), &c.Evidence); err != nil {
		return nil, fmt.Errorf("decode claim %d's evidence: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(candidates), &c.Candidates); err != nil {
		return nil, fmt.Errorf("decode claim %d's candidates: %w", c.ID, err)
	}
	c.Invitation, c.State, c.Person = cmex.InvitationID(invitation.Int64), cmex.ClaimState(state), cmex.PersonID(person.Int64)
	c.CreatedAt = c.CreatedAt.UTC()
	if decided.Valid {
		c.DecidedAt = decided.Time.UTC()
	}
	return c, nil
}

func scanClaims(rows *sql.Rows, err error) ([]*cmex.Claim, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cmex.Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// nullID is id, or NULL for 0.
func nullID[T ~int64](id T) any {
	if id == 0 {
		return nil
	}
	return int64(id)
}

// insertClaim inserts c and sets its ID.
func (s *ClaimService) insertClaim(ctx context.Context, tx conn, c *cmex.Claim) error {
	evidence, err := json.Marshal(c.Evidence)
	if err != nil {
		return err
	}
	if c.Candidates == nil {
		c.Candidates = []cmex.PersonID{}
	}
	candidates, err := json.Marshal(c.Candidates)
	if err != nil {
		return err
	}
	var decided any
	if !c.DecidedAt.IsZero() {
		decided = c.DecidedAt
	}
	err = tx.queryRow(ctx, `INSERT INTO person_claims (account_id, evidence, invitation_id, state, candidates, person_id, reason, created_at, decided_at, decided_by)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?) RETURNING id`,
		c.AccountID, string(evidence), nullID(c.Invitation), string(c.State), string(candidates), nullID(c.Person), c.CreatedAt, decided, c.DecidedBy).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("insert claim: %w", err)
	}
	return nil
}

// withdrawPending withdraws the account's pending claims, but keep.
func (s *ClaimService) withdrawPending(ctx context.Context, tx conn, account cmex.AccountID, keep cmex.ClaimID, now time.Time, by string) error {
	if _, err := tx.exec(ctx, `UPDATE person_claims SET state = ?, decided_at = ?, decided_by = ? WHERE account_id = ? AND state = ? AND id <> ?`,
		string(cmex.ClaimWithdrawn), now, by, account, string(cmex.ClaimPending), keep); err != nil {
		return fmt.Errorf("withdraw pending claims: %w", err)
	}
	return nil
}

// link inserts the link of account to person, and reports false (linking
// nothing) when either is linked already.
func (s *ClaimService) link(ctx context.Context, tx conn, account cmex.AccountID, person cmex.PersonID, via string, now time.Time) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO account_persons (account_id, person_id, via, linked_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		account, person, via, now)
	if err != nil {
		return false, fmt.Errorf("link account %d to person %d: %w", account, person, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// accountUsername returns an account's username, or ENOTFOUND.
func accountUsername(ctx context.Context, q conn, account cmex.AccountID) (string, error) {
	var username string
	err := q.queryRow(ctx, `SELECT username FROM gateway_accounts WHERE id = ?`, account).Scan(&username)
	return username, notFound(err, fmt.Sprintf("no account %d", account))
}

// linkedPersons returns which of ids are linked to an account.
func linkedPersons(ctx context.Context, q conn, ids []cmex.PersonID) (map[cmex.PersonID]bool, error) {
	out := map[cmex.PersonID]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	linked, err := scanColumn[cmex.PersonID](q.query(ctx, `SELECT person_id FROM account_persons WHERE person_id IN (`+placeholders(len(ids))+`)`, anys(ids)...))
	if err != nil {
		return nil, fmt.Errorf("linked persons: %w", err)
	}
	for _, id := range linked {
		out[id] = true
	}
	return out, nil
}

// ClaimPerson implements cmex.ClaimService. Every claim runs the same
// queries (the exact match, both candidate queries, the links of every
// person found) and the same writes (the account's pending claims
// withdrawn, the claim and its audit entry inserted), linked or not, so
// that neither its answer nor its time says why a claim waits.
func (s *ClaimService) ClaimPerson(ctx context.Context, account cmex.AccountID, e cmex.ClaimEvidence) (*cmex.Claim, error) {
	if ps := e.Check(cmex.DateOf(s.db.now())); len(ps) > 0 {
		return nil, &cmex.Error{Code: cmex.EINVALID, Message: "the claim is not complete", Problems: ps}
	}
	exact, err := s.persons.MatchPersons(ctx, e.Query())
	if err != nil {
		return nil, err
	}
	var candidates []cmex.PersonID
	for _, p := range exact {
		candidates = append(candidates, p.ID)
	}
	for _, q := range e.CandidateQueries() {
		ps, err := s.persons.MatchPersons(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if !slices.Contains(candidates, p.ID) {
				candidates = append(candidates, p.ID)
			}
		}
	}
	slices.Sort(candidates)
	now, by := s.db.now(), cmex.Actor(ctx)
	c := &cmex.Claim{AccountID: account, Evidence: e, State: cmex.ClaimPending, Candidates: candidates, CreatedAt: now}
	err = s.db.inTx(ctx, func(tx conn) error {
		username, err := accountUsername(ctx, tx, account)
		if err != nil {
			return err
		}
		c.Username = username
		var linked int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM account_persons WHERE account_id = ?`, account).Scan(&linked); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		if linked > 0 {
			return cmex.Errorf(cmex.ECONFLICT, "your account is already linked to a registry record")
		}
		taken, err := linkedPersons(ctx, tx, candidates)
		if err != nil {
			return err
		}
		if len(exact) == 1 && !taken[exact[0].ID] {
			ok, err := s.link(ctx, tx, account, exact[0].ID, cmex.LinkByClaim, now)
			if err != nil {
				return err
			}
			if ok {
				c.State, c.Person, c.DecidedAt, c.DecidedBy = cmex.ClaimLinked, exact[0].ID, now, by
			}
		}
		if err := s.insertClaim(ctx, tx, c); err != nil {
			return err
		}
		if err := s.withdrawPending(ctx, tx, account, c.ID, now, by); err != nil {
			return err
		}
		rows := []auditRow{auditFrom(ctx, "", "claim.add", username, fmt.Sprintf("claim %d (%s): %s, %d candidates", c.ID, e.IdentifierText(), c.State, len(candidates)))}
		if c.State == cmex.ClaimLinked {
			rows = append(rows, auditFrom(ctx, "", "person-link.add", username, fmt.Sprintf("person %d, by claim %d", c.Person, c.ID)))
		}
		return s.db.appendAudit(ctx, tx, rows)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AccountClaims implements cmex.ClaimService.
func (s *ClaimService) AccountClaims(ctx context.Context, account cmex.AccountID) ([]*cmex.Claim, error) {
	cs, err := scanClaims(s.db.read().query(ctx, `SELECT `+claimColumns+` FROM person_claims c JOIN gateway_accounts a ON a.id = c.account_id
		WHERE c.account_id = ? ORDER BY c.id DESC LIMIT 100`, account))
	if err != nil {
		return nil, fmt.Errorf("account's claims: %w", err)
	}
	return cs, nil
}

// Claims implements cmex.ClaimService.
func (s *ClaimService) Claims(ctx context.Context, f cmex.ClaimFilter) ([]*cmex.Claim, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "c.state = ?"), append(args, string(f.State))
	}
	if f.Decided {
		where, args = append(where, "c.state IN (?, ?, ?)"), append(args, string(cmex.ClaimLinked), string(cmex.ClaimApproved), string(cmex.ClaimRefused))
	}
	cond, order := "", "c.id"
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	if f.Newest {
		order = "c.id DESC"
	}
	cs, err := scanClaims(s.db.read().query(ctx, `SELECT `+claimColumns+` FROM person_claims c JOIN gateway_accounts a ON a.id = c.account_id
		`+cond+` ORDER BY `+order+` LIMIT ?`, append(args, limit)...))
	if err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return cs, nil
}

// Claim implements cmex.ClaimService.
func (s *ClaimService) Claim(ctx context.Context, id cmex.ClaimID) (*cmex.Claim, error) {
	c, err := s.claim(ctx, s.db.read(), id, "")
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("no claim %d", id))
	}
	return c, nil
}

func (s *ClaimService) claim(ctx context.Context, q conn, id cmex.ClaimID, lock string) (*cmex.Claim, error) {
	return scanClaim(q.queryRow(ctx, `SELECT `+claimColumns+` FROM person_claims c JOIN gateway_accounts a ON a.id = c.account_id WHERE c.id = ?`+lock, id))
}

// pendingClaim returns claim id, locked, if it is pending, or ENOTFOUND.
func (s *ClaimService) pendingClaim(ctx context.Context, tx conn, id cmex.ClaimID) (*cmex.Claim, error) {
	lock := s.db.dialect.ForUpdate()
	if lock != "" {
		lock = " FOR UPDATE OF c"
	}
	c, err := s.claim(ctx, tx, id, lock)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("no pending claim %d", id))
	}
	if c.State != cmex.ClaimPending {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "claim %d is %s, not pending", id, c.State)
	}
	return c, nil
}

// ApproveClaim implements cmex.ClaimService.
func (s *ClaimService) ApproveClaim(ctx context.Context, id cmex.ClaimID, person cmex.PersonID) error {
	return s.db.inTx(ctx, func(tx conn) error {
		c, err := s.pendingClaim(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := s.persons.person(ctx, tx, person); isNoRows(err) {
			return cmex.Errorf(cmex.EINVALID, "there is no registry person %d", person)
		} else if err != nil {
			return err
		}
		if l, err := s.accountLink(ctx, tx, c.AccountID); err == nil {
			return cmex.Errorf(cmex.ECONFLICT, "the account %s is already linked to person %d; unlink it first", c.Username, l.PersonID)
		} else if !isNoRows(err) {
			return err
		}
		if l, err := s.linkOfPerson(ctx, tx, person); err == nil {
			return cmex.Errorf(cmex.ECONFLICT, "person %d is linked to the account %s; unlink it first", person, l.Username)
		} else if !isNoRows(err) {
			return err
		}
		now, by := s.db.now(), cmex.Actor(ctx)
		if ok, err := s.link(ctx, tx, c.AccountID, person, cmex.LinkByApproval, now); err != nil || !ok {
			if err == nil {
				err = cmex.Errorf(cmex.ECONFLICT, "person %d or the account %s was linked meanwhile", person, c.Username)
			}
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE person_claims SET state = ?, person_id = ?, decided_at = ?, decided_by = ? WHERE id = ?`,
			string(cmex.ClaimApproved), person, now, by, id); err != nil {
			return fmt.Errorf("approve claim: %w", err)
		}
		if err := s.withdrawPending(ctx, tx, c.AccountID, id, now, by); err != nil {
			return err
		}
		return s.db.appendAudit(ctx, tx, []auditRow{
			auditFrom(ctx, "", "claim.approve", c.Username, fmt.Sprintf("claim %d: person %d", id, person)),
			auditFrom(ctx, "", "person-link.add", c.Username, fmt.Sprintf("person %d, by approval of claim %d", person, id)),
		})
	})
}

// checkReason returns reason trimmed, or EINVALID.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return "", cmex.Errorf(cmex.EINVALID, "give a reason of at most 500 characters")
	}
	return reason, nil
}

// RefuseClaim implements cmex.ClaimService.
func (s *ClaimService) RefuseClaim(ctx context.Context, id cmex.ClaimID, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	return s.db.inTx(ctx, func(tx conn) error {
		c, err := s.pendingClaim(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE person_claims SET state = ?, reason = ?, decided_at = ?, decided_by = ? WHERE id = ?`,
			string(cmex.ClaimRefused), reason, s.db.now(), cmex.Actor(ctx), id); err != nil {
			return fmt.Errorf("refuse claim: %w", err)
		}
		return s.db.audit(ctx, tx, "claim.refuse", c.Username, fmt.Sprintf("claim %d: %s", id, reason))
	})
}

const linkColumns = "l.account_id, a.username, l.person_id, l.via, l.linked_at"

func scanLink(row scanner) (*cmex.PersonLink, error) {
	l := new(cmex.PersonLink)
	if err := row.Scan(&l.AccountID, &l.Username, &l.PersonID, &l.Via, &l.LinkedAt); err != nil {
		return nil, err
	}
	l.LinkedAt = l.LinkedAt.UTC()
	return l, nil
}

func (s *ClaimService) accountLink(ctx context.Context, q conn, account cmex.AccountID) (*cmex.PersonLink, error) {
	return scanLink(q.queryRow(ctx, `SELECT `+linkColumns+` FROM account_persons l JOIN gateway_accounts a ON a.id = l.account_id WHERE l.account_id = ?`, account))
}

func (s *ClaimService) linkOfPerson(ctx context.Context, q conn, person cmex.PersonID) (*cmex.PersonLink, error) {
	return scanLink(q.queryRow(ctx, `SELECT `+linkColumns+` FROM account_persons l JOIN gateway_accounts a ON a.id = l.account_id WHERE l.person_id = ?`, person))
}

// AccountLink implements cmex.ClaimService.
func (s *ClaimService) AccountLink(ctx context.Context, account cmex.AccountID) (*cmex.PersonLink, error) {
	l, err := s.accountLink(ctx, s.db.read(), account)
	if err != nil {
		return nil, notFound(err, "the account is linked to no registry person")
	}
	return l, nil
}

// LinkOfPerson implements cmex.ClaimService.
func (s *ClaimService) LinkOfPerson(ctx context.Context, person cmex.PersonID) (*cmex.PersonLink, error) {
	l, err := s.linkOfPerson(ctx, s.db.read(), person)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("person %d is linked to no account", person))
	}
	return l, nil
}

// Links implements cmex.ClaimService.
func (s *ClaimService) Links(ctx context.Context, limit int) ([]*cmex.PersonLink, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.read().query(ctx, `SELECT `+linkColumns+` FROM account_persons l JOIN gateway_accounts a ON a.id = l.account_id
		ORDER BY l.linked_at DESC, l.account_id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	defer rows.Close()
	var out []*cmex.PersonLink
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Unlink implements cmex.ClaimService.
func (s *ClaimService) Unlink(ctx context.Context, account cmex.AccountID, reason string) error {
	reason, err := checkReason(reason)
	if err != nil {
		return err
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		l, err := s.accountLink(ctx, tx, account)
		if err != nil {
			return "", "", "", notFound(err, "the account is linked to no registry person")
		}
		if _, err := tx.exec(ctx, `DELETE FROM account_persons WHERE account_id = ?`, account); err != nil {
			return "", "", "", fmt.Errorf("unlink: %w", err)
		}
		return "person-link.remove", l.Username, fmt.Sprintf("person %d: %s", l.PersonID, reason), nil
	})
}

// ProviderLearners implements cmex.ClaimService: the persons are found
// first (by name or identifier; without a search, among up to 2000 of the
// provider's records, read along its index in no particular order, so that
// a provider of millions of records costs what a small one does), then
// their records counted by the person index.
func (s *ClaimService) ProviderLearners(ctx context.Context, org cmex.OrganizationID, f cmex.PersonFilter) ([]*cmex.ProviderLearner, error) {
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := s.db.read()
	var ids []cmex.PersonID
	var err error
	if text := strings.TrimSpace(f.Name); text != "" {
		ids, err = scanColumn[cmex.PersonID](q.query(ctx, `SELECT id FROM persons WHERE name_key LIKE ?
			UNION SELECT person_id FROM person_identifiers WHERE value = ? ORDER BY 1 LIMIT 1000`, "%"+cmex.NameKey(text)+"%", cmex.IDKey(text)))
	} else {
		ids, err = scanColumn[cmex.PersonID](q.query(ctx, `SELECT person_id FROM learner_records
			WHERE organization_id = ? AND NOT deleted AND person_id IS NOT NULL LIMIT 2000`, org))
	}
	if err != nil {
		return nil, fmt.Errorf("provider's learners: %w", err)
	}
	var distinct []cmex.PersonID
	for _, id := range ids {
		if !slices.Contains(distinct, id) {
			distinct = append(distinct, id)
		}
	}
	out := []*cmex.ProviderLearner{}
	for _, chunk := range chunks(distinct) {
		rows, err := q.query(ctx, `SELECT p.id, p.given_name, p.family_name, count(*), max(r.completion_date)
			FROM learner_records r JOIN persons p ON p.id = r.person_id
			WHERE r.person_id IN (`+placeholders(len(chunk))+`) AND r.organization_id = ? AND NOT r.deleted
			GROUP BY p.id, p.given_name, p.family_name`, append(anys(chunk), org)...)
		if err != nil {
			return nil, fmt.Errorf("provider's learners: %w", err)
		}
		for rows.Next() {
			l := new(cmex.ProviderLearner)
			if err := rows.Scan(&l.PersonID, &l.GivenName, &l.FamilyName, &l.Records, &l.Last); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b *cmex.ProviderLearner) int {
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return int(a.PersonID - b.PersonID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

const invitationColumns = "i.id, i.organization_id, o.name, i.person_id, p.given_name, p.family_name, i.created_at, i.expires_at, i.used_at, i.used_by"

const invitationFrom = ` FROM person_invitations i JOIN organizations o ON o.id = i.organization_id JOIN persons p ON p.id = i.person_id`

func scanInvitation(row scanner) (*cmex.Invitation, error) {
	i := new(cmex.Invitation)
	var given, family string
	var used sql.NullTime
	var by sql.NullInt64
	if err := row.Scan(&i.ID, &i.OrganizationID, &i.Provider, &i.PersonID, &given, &family, &i.CreatedAt, &i.ExpiresAt, &used, &by); err != nil {
		return nil, err
	}
	i.PersonName = given + " " + family
	i.CreatedAt, i.ExpiresAt = i.CreatedAt.UTC(), i.ExpiresAt.UTC()
	if used.Valid {
		i.UsedAt = used.Time.UTC()
	}
	i.UsedBy = cmex.AccountID(by.Int64)
	return i, nil
}

// Invite implements cmex.ClaimService.
func (s *ClaimService) Invite(ctx context.Context, org cmex.OrganizationID, person cmex.PersonID) (*cmex.Invitation, string, error) {
	token, err := newSessionToken() // 256 random bits, URL-safe
	if err != nil {
		return nil, "", err
	}
	var inv *cmex.Invitation
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM learner_records WHERE person_id = ? AND organization_id = ? AND NOT deleted`, person, org).Scan(&n); err != nil {
			return "", "", "", fmt.Errorf("invite: %w", err)
		}
		if n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "the provider reported no record for person %d", person)
		}
		now := s.db.now()
		var id cmex.InvitationID
		if err := tx.queryRow(ctx, `INSERT INTO person_invitations (organization_id, person_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			org, person, tokenHash(token), now, now.Add(cmex.InvitationTTL)).Scan(&id); err != nil {
			return "", "", "", fmt.Errorf("invite: %w", err)
		}
		var err error
		if inv, err = scanInvitation(tx.queryRow(ctx, `SELECT `+invitationColumns+invitationFrom+` WHERE i.id = ?`, id)); err != nil {
			return "", "", "", fmt.Errorf("invite: %w", err)
		}
		return "invitation.add", fmt.Sprintf("person %d", person), fmt.Sprintf("invitation %d of organization %d, expires %s", id, org, inv.ExpiresAt.Format(time.RFC3339)), nil
	})
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// Invitations implements cmex.ClaimService.
func (s *ClaimService) Invitations(ctx context.Context, org cmex.OrganizationID, limit int) ([]*cmex.Invitation, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.read().query(ctx, `SELECT `+invitationColumns+invitationFrom+` WHERE i.organization_id = ? ORDER BY i.id DESC LIMIT ?`, org, limit)
	if err != nil {
		return nil, fmt.Errorf("invitations: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Invitation
	for rows.Next() {
		i, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// InvitationByToken implements cmex.ClaimService.
func (s *ClaimService) InvitationByToken(ctx context.Context, token string) (*cmex.Invitation, error) {
	if token == "" || len(token) > 100 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no such invitation")
	}
	i, err := scanInvitation(s.db.read().queryRow(ctx, `SELECT `+invitationColumns+invitationFrom+` WHERE i.token_hash = ?`, tokenHash(token)))
	if err != nil {
		return nil, notFound(err, "no such invitation")
	}
	return i, nil
}

// AcceptInvitation implements cmex.ClaimService.
func (s *ClaimService) AcceptInvitation(ctx context.Context, token string, account cmex.AccountID) (*cmex.Claim, error) {
	if token == "" || len(token) > 100 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no such invitation")
	}
	var c *cmex.Claim
	err := s.db.inTx(ctx, func(tx conn) error {
		inv, err := scanInvitation(tx.queryRow(ctx, `SELECT `+invitationColumns+invitationFrom+` WHERE i.token_hash = ?`, tokenHash(token)))
		if err != nil {
			return notFound(err, "no such invitation")
		}
		now, by := s.db.now(), cmex.Actor(ctx)
		if why := inv.Usable(now); why != "" {
			return invitationRefusal(inv, why)
		}
		username, err := accountUsername(ctx, tx, account)
		if err != nil {
			return err
		}
		if l, err := s.accountLink(ctx, tx, account); err == nil {
			if l.PersonID == inv.PersonID {
				c = &cmex.Claim{AccountID: account, Username: username, State: cmex.ClaimLinked, Person: l.PersonID, Invitation: inv.ID, CreatedAt: now}
				return nil
			}
			return cmex.Errorf(cmex.ECONFLICT, "your account is already linked to another registry record; cmex's operators can change that")
		} else if !isNoRows(err) {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE person_invitations SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL`, now, account, inv.ID)
		if err != nil {
			return fmt.Errorf("use invitation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err == nil {
				inv.UsedAt = now
				err = invitationRefusal(inv, "used")
			}
			return err
		}
		a, err := scanAccount(tx.queryRow(ctx, `SELECT `+accountColumns+` FROM gateway_accounts WHERE id = ?`, account))
		if err != nil {
			return err
		}
		c = &cmex.Claim{AccountID: account, Username: username, Invitation: inv.ID, State: cmex.ClaimPending, Candidates: []cmex.PersonID{inv.PersonID},
			Evidence: cmex.ClaimEvidence{GivenName: a.GivenName, FamilyName: a.FamilyName}, CreatedAt: now}
		linked, err := s.link(ctx, tx, account, inv.PersonID, cmex.LinkByInvitation, now)
		if err != nil {
			return err
		}
		if linked {
			c.State, c.Person, c.DecidedAt, c.DecidedBy = cmex.ClaimLinked, inv.PersonID, now, by
		}
		if err := s.insertClaim(ctx, tx, c); err != nil {
			return err
		}
		if err := s.withdrawPending(ctx, tx, account, c.ID, now, by); err != nil {
			return err
		}
		rows := []auditRow{auditFrom(ctx, "", "invitation.use", username, fmt.Sprintf("invitation %d of %s, person %d: claim %d %s", inv.ID, inv.Provider, inv.PersonID, c.ID, c.State))}
		if linked {
			rows = append(rows, auditFrom(ctx, "", "person-link.add", username, fmt.Sprintf("person %d, by invitation %d", inv.PersonID, inv.ID)))
		}
		return s.db.appendAudit(ctx, tx, rows)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// invitationRefusal says plainly why an invitation cannot be opened.
func invitationRefusal(inv *cmex.Invitation, why string) error {
	if why == "used" {
		return cmex.Errorf(cmex.EFORBIDDEN, "This invitation link was used on %s; each link links one account, once. Ask %s for a new one if you need it.",
			inv.UsedAt.Format("2 January 2006"), inv.Provider)
	}
	return cmex.Errorf(cmex.EFORBIDDEN, "This invitation link expired on %s. Ask %s for a new one.", inv.ExpiresAt.Format("2 January 2006"), inv.Provider)
}

// PersonLedger implements cmex.ClaimService.
func (s *ClaimService) PersonLedger(ctx context.Context, person cmex.PersonID) ([]cmex.TranscriptCredit, error) {
	recs, activities, err := personRecords(ctx, s.db, person, true)
	if err != nil {
		return nil, err
	}
	return cmex.LedgerCredits(recs, activities.describe), nil
}
