package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cmexhub/cmex"
)

// What a society's admin does with her society: members searched,
// imported and given new passwords, the society's own credits imported
// and searched, approvals withdrawn, feed secrets generated.

// likePattern is a LIKE pattern (with ESCAPE '\') matching text anywhere,
// lower-cased.
func likePattern(text string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(text)) + "%"
}

// FindMembers implements cmex.SocietyService.
func (s *SocietyService) FindMembers(ctx context.Context, society cmex.SocietyID, f cmex.MemberFilter) ([]*cmex.Member, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = cmex.DefaultMemberLimit
	}
	text := strings.Join(strings.Fields(f.Text), " ")
	like := likePattern(text)
	rows, err := s.db.read().query(ctx, `SELECT `+memberColumns+` FROM society_members WHERE society_id = ? AND (? = ''
		OR lower(member_id) LIKE ? ESCAPE '\' OR username_key LIKE ? ESCAPE '\'
		OR lower(given_name || ' ' || family_name) LIKE ? ESCAPE '\' OR lower(family_name || ' ' || given_name) LIKE ? ESCAPE '\')
		ORDER BY member_id LIMIT ?`, society, text, like, like, like, like, limit)
	if err != nil {
		return nil, fmt.Errorf("find members: %w", err)
	}
	defer rows.Close()
	out := []*cmex.Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("find members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// checkMember reports what is wrong with a member's own fields, or "".
func checkMember(m *cmex.Member) string {
	switch {
	case m.MemberID == "" || len(m.MemberID) > 64:
		return "a member id is 1 to 64 characters"
	case m.Username == "" || len(m.Username) > 100:
		return "a member username is 1 to 100 characters"
	case m.GivenName == "" || m.FamilyName == "":
		return "a member needs a given and a family name"
	case len(m.GivenName) > 200 || len(m.FamilyName) > 200:
		return "a given or family name is at most 200 characters"
	}
	for _, f := range []string{m.Address.Street, m.Address.City, m.Address.State, m.Address.Zip, m.Address.Country} {
		if len(f) > 200 {
			return "each part of an address is at most 200 characters"
		}
	}
	return ""
}

func trimMember(m *cmex.Member) {
	for _, f := range []*string{&m.MemberID, &m.Username, &m.GivenName, &m.FamilyName,
		&m.Address.Street, &m.Address.City, &m.Address.State, &m.Address.Zip, &m.Address.Country} {
		*f = strings.TrimSpace(*f)
	}
}

// ImportMembers implements cmex.SocietyService. A member's PersonID is not
// imported: linking a member to the learner registry is the operator's
// (AddMember), and an existing member keeps her link.
func (s *SocietyService) ImportMembers(ctx context.Context, society cmex.SocietyID, members []cmex.NewMember) ([]cmex.MemberOutcome, error) {
	so, err := s.Society(ctx, society)
	if err != nil {
		return nil, err
	}
	if so.Kind != cmex.SocietyLocal {
		return nil, cmex.Errorf(cmex.EINVALID, "society %s is remote: its members are kept by the society", so.Code)
	}
	var problems cmex.Problems
	bad := func(i int, format string, args ...any) {
		problems = append(problems, cmex.Problem{Field: fmt.Sprintf("member[%d]", i+1), Message: fmt.Sprintf(format, args...), Severity: cmex.SeverityError})
	}
	ms := make([]cmex.NewMember, len(members))
	ids, names := map[string]int{}, map[string]int{}
	for i, nm := range members {
		trimMember(&nm.Member)
		nm.Member.SocietyID, nm.Member.PersonID = society, 0
		ms[i] = nm
		if msg := checkMember(&nm.Member); msg != "" {
			bad(i, "%s", msg)
			continue
		}
		if len(nm.Password) > cmex.MaxPasswordBytes {
			bad(i, "the password is longer than %d bytes", cmex.MaxPasswordBytes)
		}
		if j, ok := ids[nm.Member.MemberID]; ok {
			bad(i, "member id %s is also member %d of the file", nm.Member.MemberID, j+1)
		} else {
			ids[nm.Member.MemberID] = i
		}
		if j, ok := names[usernameKey(nm.Member.Username)]; ok {
			bad(i, "username %s is also member %d's of the file", nm.Member.Username, j+1)
		} else {
			names[usernameKey(nm.Member.Username)] = i
		}
	}
	if len(problems) > 0 {
		return nil, &cmex.Error{Code: cmex.EINVALID, Message: "the file has problems; nothing was imported", Problems: problems}
	}

	// New members' passwords are hashed before the transaction, which
	// would otherwise be held for as long as the hashing takes.
	have, err := scanColumn[string](s.db.read().query(ctx, `SELECT member_id FROM society_members WHERE society_id = ?`, society))
	if err != nil {
		return nil, fmt.Errorf("import members: %w", err)
	}
	known := map[string]bool{}
	for _, id := range have {
		known[id] = true
	}
	out := make([]cmex.MemberOutcome, len(ms))
	hashes := make([]string, len(ms))
	for i := range ms {
		out[i].MemberID = ms[i].Member.MemberID
		if known[ms[i].Member.MemberID] {
			continue
		}
		password := ms[i].Password
		if password == "" {
			password = cmex.GeneratePassword()
			out[i].Password = password
		}
		if hashes[i], err = s.db.Hasher.Hash(password); err != nil {
			return nil, err
		}
	}

	var added, updated, unchanged int
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		added, updated, unchanged = 0, 0, 0
		now := s.db.now()
		for i := range ms {
			m := &ms[i].Member
			holder, err := scanColumn[string](tx.query(ctx, `SELECT member_id FROM society_members WHERE society_id = ? AND username_key = ?`,
				society, usernameKey(m.Username)))
			if err != nil {
				return "", "", "", fmt.Errorf("import members: %w", err)
			}
			if len(holder) > 0 && holder[0] != m.MemberID {
				bad(i, "username %s is member %s's", m.Username, holder[0])
				continue
			}
			old, err := scanMember(tx.queryRow(ctx, `SELECT `+memberColumns+` FROM society_members WHERE society_id = ? AND member_id = ?`, society, m.MemberID))
			if err != nil && !isNoRows(err) {
				return "", "", "", fmt.Errorf("import members: %w", err)
			}
			isNew := isNoRows(err)
			addr, err := json.Marshal(m.Address)
			if err != nil {
				return "", "", "", err
			}
			switch {
			case isNew && hashes[i] == "":
				// Known before the transaction, gone now: members are never
				// removed, so this does not happen.
				return "", "", "", fmt.Errorf("import members: member %s vanished", m.MemberID)
			case isNew:
				if err := tx.queryRow(ctx, `INSERT INTO society_members
					(society_id, member_id, username, username_key, password_hash, given_name, family_name, address, person_id, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) RETURNING id`,
					society, m.MemberID, m.Username, usernameKey(m.Username), hashes[i], m.GivenName, m.FamilyName, string(addr), now).Scan(&m.ID); err != nil {
					if s.db.dialect.IsUniqueViolation(err) {
						return "", "", "", cmex.Errorf(cmex.ECONFLICT, "the members changed while the file was imported; import it again")
					}
					return "", "", "", fmt.Errorf("import members: %w", err)
				}
				out[i].Outcome = cmex.MemberAdded
				added++
			case old.Username == m.Username && old.GivenName == m.GivenName && old.FamilyName == m.FamilyName && old.Address == m.Address:
				out[i].Outcome, out[i].Password = cmex.MemberUnchanged, ""
				unchanged++
			default:
				if _, err := tx.exec(ctx, `UPDATE society_members SET username = ?, username_key = ?, given_name = ?, family_name = ?, address = ? WHERE id = ?`,
					m.Username, usernameKey(m.Username), m.GivenName, m.FamilyName, string(addr), old.ID); err != nil {
					return "", "", "", fmt.Errorf("import members: %w", err)
				}
				out[i].Outcome, out[i].Password = cmex.MemberUpdated, ""
				updated++
			}
		}
		if len(problems) > 0 {
			return "", "", "", &cmex.Error{Code: cmex.EINVALID, Message: "the file conflicts with the society's members; nothing was imported", Problems: problems}
		}
		if added+updated == 0 {
			return "", "", "", errUnchanged
		}
		return "members.import", so.Code, fmt.Sprintf("%d added, %d updated, %d unchanged", added, updated, unchanged), nil
	})
	if err != nil && err != errUnchanged {
		return nil, err
	}
	return out, nil
}

// ResetMemberPassword implements cmex.SocietyService.
func (s *SocietyService) ResetMemberPassword(ctx context.Context, society cmex.SocietyID, memberID string) (string, error) {
	m, err := s.Member(ctx, society, memberID)
	if err != nil {
		return "", err
	}
	password := cmex.GeneratePassword()
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return "", err
	}
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		if _, err := tx.exec(ctx, `UPDATE society_members SET password_hash = ? WHERE id = ?`, hash, m.ID); err != nil {
			return "", "", "", fmt.Errorf("reset member password: %w", err)
		}
		return "member.password-reset", m.MemberID, fmt.Sprintf("society %d", society), nil
	})
	if err != nil {
		return "", err
	}
	return password, nil
}

// ImportSocietyCredits implements cmex.SocietyService.
func (s *SocietyService) ImportSocietyCredits(ctx context.Context, society cmex.SocietyID, credits []cmex.SocietyCredit) ([]cmex.CreditOutcome, error) {
	so, err := s.localSociety(ctx, society)
	if err != nil {
		return nil, err
	}
	var out []cmex.CreditOutcome
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		out = make([]cmex.CreditOutcome, len(credits))
		refs := map[string]int64{} // member id → row id; 0 when she is not a member
		now := s.db.now()
		accepted, present := 0, 0
		for i := range credits {
			c := &credits[i]
			if err := cmex.CheckCEU(&c.CEU); err != nil {
				out[i] = cmex.CreditOutcome{Outcome: cmex.OutcomeRejected, Problem: cmex.ErrorMessage(err)}
				continue
			}
			id := strings.TrimSpace(c.MemberID)
			ref, seen := refs[id]
			if !seen {
				err := tx.queryRow(ctx, `SELECT id FROM society_members WHERE society_id = ? AND member_id = ?`, society, id).Scan(&ref)
				if err != nil && !isNoRows(err) {
					return "", "", "", fmt.Errorf("import society credits: %w", err)
				}
				refs[id] = ref
			}
			if ref == 0 {
				out[i] = cmex.CreditOutcome{Outcome: cmex.OutcomeRejected, Problem: fmt.Sprintf("%s has no member %q", so.Code, id)}
				continue
			}
			n, err := insertSocietyCredit(ctx, tx, ref, &c.CEU, now)
			if err != nil {
				return "", "", "", err
			}
			if n == 1 {
				out[i].Outcome = cmex.OutcomeAccepted
				accepted++
			} else {
				out[i].Outcome = cmex.OutcomePresent
				present++
			}
		}
		if accepted == 0 {
			return "", "", "", errUnchanged
		}
		return "society.credits-import", so.Code, fmt.Sprintf("%d accepted, %d present, %d rejected", accepted, present, len(credits)-accepted-present), nil
	})
	if err != nil && err != errUnchanged {
		return nil, err
	}
	return out, nil
}

// insertSocietyCredit records a credit for the member of row ref unless
// she has it already, and says how many it recorded (0 or 1).
func insertSocietyCredit(ctx context.Context, tx conn, ref int64, c *cmex.CEU, now any) (int64, error) {
	doc, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	res, err := tx.exec(ctx, `INSERT INTO society_credits (member_ref, content_key, credit_date, document, recorded_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, ref, contentKey(c), c.Date, string(doc), now)
	if err != nil {
		return 0, fmt.Errorf("add society credit: %w", err)
	}
	return res.RowsAffected()
}

// SocietyCredits implements cmex.SocietyService. A text search reads the
// credits whose stored document holds the text (a cheap first cut, in the
// database) and keeps those whose own fields do.
func (s *SocietyService) SocietyCredits(ctx context.Context, society cmex.SocietyID, f cmex.SocietyCreditFilter) ([]*cmex.SocietyCredit, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = cmex.DefaultSocietyCreditLimit
	}
	q := `SELECT c.id, m.member_id, m.given_name, m.family_name, c.document, c.recorded_at
		FROM society_credits c JOIN society_members m ON m.id = c.member_ref WHERE m.society_id = ?`
	args := []any{society}
	if id := strings.TrimSpace(f.MemberID); id != "" {
		q += ` AND m.member_id = ?`
		args = append(args, id)
	}
	if !f.From.IsZero() {
		q += ` AND c.credit_date >= ?`
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		q += ` AND c.credit_date <= ?`
		args = append(args, f.To)
	}
	text := strings.ToLower(strings.Join(strings.Fields(f.Text), " "))
	switch {
	case text == "":
		q += ` ORDER BY c.credit_date DESC, c.id DESC LIMIT ?`
		args = append(args, limit)
	case !strings.ContainsAny(text, "\"\\<>&") && !strings.ContainsFunc(text, func(r rune) bool { return r < ' ' || r == '\u2028' || r == '\u2029' }):
		// The text as JSON writes it: the first cut may use it.
		q += ` AND lower(c.document) LIKE ? ESCAPE '\' ORDER BY c.credit_date DESC, c.id DESC`
		args = append(args, likePattern(text))
	default:
		q += ` ORDER BY c.credit_date DESC, c.id DESC`
	}
	rows, err := s.db.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("society credits: %w", err)
	}
	defer rows.Close()
	out := []*cmex.SocietyCredit{}
	for rows.Next() && len(out) < limit {
		c := &cmex.SocietyCredit{}
		var doc string
		if err := rows.Scan(&c.ID, &c.MemberID, &c.GivenName, &c.FamilyName, &doc, &c.RecordedAt); err != nil {
			return nil, fmt.Errorf("society credits: %w", err)
		}
		if err := json.Unmarshal([]byte(doc), &c.CEU); err != nil {
			return nil, fmt.Errorf("decode society credit: %w", err)
		}
		if text != "" && !ceuHolds(&c.CEU, text) {
			continue
		}
		c.RecordedAt = c.RecordedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// ceuHolds reports whether one of c's own fields holds text, which is
// lower-cased with its spaces collapsed.
func ceuHolds(c *cmex.CEU, text string) bool {
	for _, f := range []string{c.Title, c.ShortName, c.Sponsor, c.Location, c.ActivityType} {
		if strings.Contains(strings.ToLower(strings.Join(strings.Fields(f), " ")), text) {
			return true
		}
	}
	return false
}

// ApprovedPullers implements cmex.SocietyService.
func (s *SocietyService) ApprovedPullers(ctx context.Context, provider cmex.SocietyID) ([]cmex.SocietyID, error) {
	ids, err := scanColumn[cmex.SocietyID](s.db.read().query(ctx, `SELECT puller_id FROM society_approvals WHERE provider_id = ? ORDER BY puller_id`, provider))
	if err != nil {
		return nil, fmt.Errorf("approved pullers: %w", err)
	}
	return ids, nil
}

// WithdrawApproval implements cmex.SocietyService.
func (s *SocietyService) WithdrawApproval(ctx context.Context, provider, puller cmex.SocietyID) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `DELETE FROM society_approvals WHERE provider_id = ? AND puller_id = ?`, provider, puller)
		if err != nil {
			return "", "", "", fmt.Errorf("withdraw approval: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "that society was not approved")
		}
		return "society.withdraw", fmt.Sprint(puller), fmt.Sprintf("may no longer pull from society %d", provider), nil
	})
}

// NewFeedSecret implements cmex.SocietyService.
func (s *SocietyService) NewFeedSecret(ctx context.Context, id cmex.SocietyID, username string) (string, error) {
	so, err := s.Society(ctx, id)
	if err != nil {
		return "", err
	}
	if username = strings.TrimSpace(username); username == "" {
		username = so.FeedUsername
	}
	if username == "" {
		return "", cmex.Errorf(cmex.EINVALID, "society %s has no feed login yet: name one", so.Code)
	}
	secret := cmex.GeneratePassword()
	if err := s.SetFeedLogin(ctx, id, username, secret); err != nil {
		return "", err
	}
	return secret, nil
}
