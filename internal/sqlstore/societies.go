package sqlstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// SocietyService implements cmex.SocietyService.
type SocietyService struct{ db *DB }

var _ cmex.SocietyService = (*SocietyService)(nil)

// NewSocietyService returns the societies of db.
func NewSocietyService(db *DB) *SocietyService { return &SocietyService{db: db} }

const societyColumns = "id, code, name, kind, binding_url, order_url, feed_username, created_at"

func scanSociety(row scanner) (*cmex.Society, error) {
	var s cmex.Society
	var kind string
	var feed *string
	var created time.Time
	if err := row.Scan(&s.ID, &s.Code, &s.Name, &kind, &s.BindingURL, &s.OrderURL, &feed, &created); err != nil {
		return nil, err
	}
	s.Kind, s.CreatedAt = cmex.SocietyKind(kind), created.UTC()
	if feed != nil {
		s.FeedUsername = *feed
	}
	return &s, nil
}

// checkServiceURL accepts the absolute http(s) URL of a remote service.
func checkServiceURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return cmex.Errorf(cmex.EINVALID, "%s must be an http or https URL without credentials, not %q", name, s)
	}
	return nil
}

// CreateSociety implements cmex.SocietyService.
func (s *SocietyService) CreateSociety(ctx context.Context, so *cmex.Society) error {
	so.Code, so.Name = cmex.NormalizeSocietyCode(so.Code), strings.TrimSpace(so.Name)
	switch {
	case !cmex.SocietyCodePattern.MatchString(so.Code):
		return cmex.Errorf(cmex.EINVALID, "a society code is 1 to 32 letters, digits, - or _, starting with a letter or digit (EXAMPLE, ACR)")
	case so.Name == "" || len(so.Name) > 255:
		return cmex.Errorf(cmex.EINVALID, "a society needs a name of at most 255 characters")
	}
	switch so.Kind {
	case cmex.SocietyLocal:
		if so.BindingURL != "" || so.OrderURL != "" {
			return cmex.Errorf(cmex.EINVALID, "a local society has no binding or order URL: cmex answers for it")
		}
	case cmex.SocietyRemote:
		if err := checkServiceURL("the binding URL", so.BindingURL); err != nil {
			return err
		}
		if err := checkServiceURL("the order URL", so.OrderURL); err != nil {
			return err
		}
	default:
		return cmex.Errorf(cmex.EINVALID, "a society is local or remote, not %q", so.Kind)
	}
	so.CreatedAt = s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx,
			`INSERT INTO societies (code, name, kind, binding_url, order_url, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			so.Code, so.Name, string(so.Kind), so.BindingURL, so.OrderURL, so.CreatedAt).Scan(&so.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "society %s already exists", so.Code)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("create society: %w", err)
		}
		return "society.add", so.Code, fmt.Sprintf("society %d", so.ID), nil
	})
}

// SocietyByCode implements cmex.SocietyService.
func (s *SocietyService) SocietyByCode(ctx context.Context, code string) (*cmex.Society, error) {
	code = cmex.NormalizeSocietyCode(code)
	so, err := scanSociety(s.db.read().queryRow(ctx, `SELECT `+societyColumns+` FROM societies WHERE code = ?`, code))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("society %s not found", code))
	}
	return so, nil
}

// Society implements cmex.SocietyService.
func (s *SocietyService) Society(ctx context.Context, id cmex.SocietyID) (*cmex.Society, error) {
	so, err := scanSociety(s.db.read().queryRow(ctx, `SELECT `+societyColumns+` FROM societies WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "society not found")
	}
	return so, nil
}

// ListSocieties implements cmex.SocietyService.
func (s *SocietyService) ListSocieties(ctx context.Context, f cmex.SocietyFilter) ([]*cmex.Society, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+societyColumns+` FROM societies WHERE ? = '' OR kind = ? ORDER BY code`,
		string(f.Kind), string(f.Kind))
	if err != nil {
		return nil, fmt.Errorf("list societies: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Society
	for rows.Next() {
		so, err := scanSociety(rows)
		if err != nil {
			return nil, fmt.Errorf("list societies: %w", err)
		}
		out = append(out, so)
	}
	return out, rows.Err()
}

// SetFeedLogin implements cmex.SocietyService.
func (s *SocietyService) SetFeedLogin(ctx context.Context, id cmex.SocietyID, username, password string) error {
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 100 {
		return cmex.Errorf(cmex.EINVALID, "a feed username is 1 to 100 characters")
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("set feed login: %w", err)
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx,
			`UPDATE societies SET feed_username = ?, feed_username_key = ?, feed_password_hash = ? WHERE id = ?`,
			username, usernameKey(username), hash, id)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "another society uses the feed username %s", username)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("set feed login: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "society not found")
		}
		return "society.feed-login", fmt.Sprint(id), username, nil
	})
}

// AuthenticateFeed implements cmex.SocietyService.
func (s *SocietyService) AuthenticateFeed(ctx context.Context, username, password string) (*cmex.Society, error) {
	var id cmex.SocietyID
	var hash string
	err := s.db.read().queryRow(ctx, `SELECT id, feed_password_hash FROM societies WHERE feed_username_key = ?`,
		usernameKey(username)).Scan(&id, &hash)
	if err := s.db.checkLogin("authenticate feed", err, hash, password); err != nil {
		return nil, err
	}
	return s.Society(ctx, id)
}

// Approve implements cmex.SocietyService.
func (s *SocietyService) Approve(ctx context.Context, provider, puller cmex.SocietyID) error {
	if provider == puller {
		return cmex.Errorf(cmex.EINVALID, "a society need not approve itself")
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		_, err := tx.exec(ctx,
			`INSERT INTO society_approvals (provider_id, puller_id, approved_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			provider, puller, s.db.now())
		if err != nil {
			return "", "", "", fmt.Errorf("approve: %w", err)
		}
		return "society.approve", fmt.Sprint(puller), fmt.Sprintf("may pull from society %d", provider), nil
	})
}

// ApprovedProviders implements cmex.SocietyService.
func (s *SocietyService) ApprovedProviders(ctx context.Context, puller cmex.SocietyID) ([]cmex.SocietyID, error) {
	ids, err := scanColumn[cmex.SocietyID](s.db.read().query(ctx, `SELECT provider_id FROM society_approvals WHERE puller_id = ? ORDER BY provider_id`, puller))
	if err != nil {
		return nil, fmt.Errorf("approved providers: %w", err)
	}
	return ids, nil
}

// AddMember implements cmex.SocietyService.
func (s *SocietyService) AddMember(ctx context.Context, m *cmex.Member, password string) error {
	m.MemberID, m.Username = strings.TrimSpace(m.MemberID), strings.TrimSpace(m.Username)
	m.GivenName, m.FamilyName = strings.TrimSpace(m.GivenName), strings.TrimSpace(m.FamilyName)
	switch {
	case m.MemberID == "" || len(m.MemberID) > 64:
		return cmex.Errorf(cmex.EINVALID, "a member id is 1 to 64 characters")
	case m.Username == "" || len(m.Username) > 100:
		return cmex.Errorf(cmex.EINVALID, "a member username is 1 to 100 characters")
	case m.GivenName == "" || m.FamilyName == "":
		return cmex.Errorf(cmex.EINVALID, "a member needs a given and a family name")
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	so, err := s.Society(ctx, m.SocietyID)
	if err != nil {
		return err
	}
	if so.Kind != cmex.SocietyLocal {
		return cmex.Errorf(cmex.EINVALID, "society %s is remote: its members are kept by the society", so.Code)
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	addr, err := json.Marshal(m.Address)
	if err != nil {
		return err
	}
	var person any
	if m.PersonID != 0 {
		person = m.PersonID
		var one int
		if err := s.db.read().queryRow(ctx, `SELECT 1 FROM persons WHERE id = ?`, m.PersonID).Scan(&one); err != nil {
			return notFound(err, fmt.Sprintf("person %d is not in the learner registry", m.PersonID))
		}
	}
	m.CreatedAt = s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx, `INSERT INTO society_members
			(society_id, member_id, username, username_key, password_hash, given_name, family_name, address, person_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			m.SocietyID, m.MemberID, m.Username, usernameKey(m.Username), hash, m.GivenName, m.FamilyName, string(addr), person, m.CreatedAt).Scan(&m.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "member id %s or username %s is already in use at %s", m.MemberID, m.Username, so.Code)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("add member: %w", err)
		}
		return "member.add", m.MemberID, fmt.Sprintf("society %d", m.SocietyID), nil
	})
}

const memberColumns = "id, society_id, member_id, username, given_name, family_name, address, person_id, created_at"

func scanMember(row scanner) (*cmex.Member, error) {
	var m cmex.Member
	var addr string
	var person *int64
	var created time.Time
	if err := row.Scan(&m.ID, &m.SocietyID, &m.MemberID, &m.Username, &m.GivenName, &m.FamilyName, &addr, &person, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(addr), &m.Address); err != nil {
		return nil, fmt.Errorf("decode member address: %w", err)
	}
	if person != nil {
		m.PersonID = cmex.PersonID(*person)
	}
	m.CreatedAt = created.UTC()
	return &m, nil
}

// AuthenticateMember implements cmex.SocietyService.
func (s *SocietyService) AuthenticateMember(ctx context.Context, society cmex.SocietyID, username, password string) (*cmex.Member, error) {
	var hash string
	m, err := scanMember(withExtra{s.db.read().queryRow(ctx,
		`SELECT `+memberColumns+`, password_hash FROM society_members WHERE society_id = ? AND username_key = ?`,
		society, usernameKey(username)), []any{&hash}})
	if err := s.db.checkLogin("authenticate member", err, hash, password); err != nil {
		return nil, err
	}
	return m, nil
}

// withExtra scans a row's leading columns with a scan function and the
// trailing ones into extra.
type withExtra struct {
	row   scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// Member implements cmex.SocietyService.
func (s *SocietyService) Member(ctx context.Context, society cmex.SocietyID, memberID string) (*cmex.Member, error) {
	m, err := scanMember(s.db.read().queryRow(ctx, `SELECT `+memberColumns+` FROM society_members WHERE society_id = ? AND member_id = ?`,
		society, strings.TrimSpace(memberID)))
	if err != nil {
		return nil, notFound(err, "member not found")
	}
	return m, nil
}

// ListMembers implements cmex.SocietyService.
func (s *SocietyService) ListMembers(ctx context.Context, society cmex.SocietyID) ([]*cmex.Member, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+memberColumns+` FROM society_members WHERE society_id = ? ORDER BY member_id`, society)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func contentKey(c *cmex.CEU) string {
	sum := sha256.Sum256([]byte(c.Key()))
	return hex.EncodeToString(sum[:])
}

// AddSocietyCredits implements cmex.SocietyService.
func (s *SocietyService) AddSocietyCredits(ctx context.Context, society cmex.SocietyID, memberID string, ceus []cmex.CEU) (int, error) {
	for i := range ceus {
		if err := cmex.CheckCEU(&ceus[i]); err != nil {
			return 0, cmex.Errorf(cmex.EINVALID, "credit %d: %s", i+1, cmex.ErrorMessage(err))
		}
	}
	m, err := s.Member(ctx, society, memberID)
	if err != nil {
		return 0, err
	}
	added := 0
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		added = 0
		now := s.db.now()
		for i := range ceus {
			n, err := insertSocietyCredit(ctx, tx, m.ID, &ceus[i], now)
			if err != nil {
				return "", "", "", err
			}
			added += int(n)
		}
		if added == 0 {
			return "", "", "", errUnchanged
		}
		return "society.credits-add", m.MemberID, fmt.Sprintf("society %d: %d accepted, %d present", society, added, len(ceus)-added), nil
	})
	if err != nil && err != errUnchanged {
		return 0, err
	}
	return added, nil
}

// MemberCredits implements cmex.SocietyService.
func (s *SocietyService) MemberCredits(ctx context.Context, society cmex.SocietyID, memberID string) (*cmex.Customer, error) {
	m, err := s.Member(ctx, society, memberID)
	if err != nil {
		return nil, err
	}
	c := &cmex.Customer{ID: m.MemberID, GivenName: m.GivenName, FamilyName: m.FamilyName, Address: m.Address, CEUs: []cmex.CEU{}}
	rows, err := s.db.read().query(ctx, `SELECT document FROM society_credits WHERE member_ref = ? ORDER BY credit_date, id`, m.ID)
	if err != nil {
		return nil, fmt.Errorf("member credits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var ceu cmex.CEU
		if err := json.Unmarshal([]byte(doc), &ceu); err != nil {
			return nil, fmt.Errorf("decode society credit: %w", err)
		}
		c.CEUs = append(c.CEUs, ceu)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if m.PersonID == 0 {
		return c, nil
	}
	ledger, err := s.ledgerCEUs(ctx, m.PersonID)
	if err != nil {
		return nil, err
	}
	c.CEUs = append(c.CEUs, ledger...)
	return c, nil
}

// ledgerCEUs returns the credits providers reported for a registry person.
func (s *SocietyService) ledgerCEUs(ctx context.Context, person cmex.PersonID) ([]cmex.CEU, error) {
	recs, activities, err := personRecords(ctx, s.db, person, false)
	if err != nil {
		return nil, err
	}
	return cmex.LedgerCEUs(recs, activities.describe), nil
}

// personRecords returns the live learner records of a registry person that
// no board rejected (or, withRejected, every live one), by completion
// date, and the activity of each (with its provider's name), for her
// transcript and progress. Their status, and a rejection's code and
// reason, are read; their status time is not.
//
// A physician's records are read again at every request for her, in their
// hundreds, and decoding their documents would cost more than the rest of
// the request together. But a record's content never changes (a trigger
// refuses it), and an activity's changes with its revision: so one query
// reads the records' ids and status with their activities' revisions, and
// documents are read and decoded only for records and activity revisions
// not seen before (see DB.records and DB.activities).
func personRecords(ctx context.Context, db *DB, person cmex.PersonID, withRejected bool) ([]*cmex.LearnerRecord, recordActivities, error) {
	except := string(cmex.StatusRejected)
	if withRejected {
		except = ""
	}
	rows, err := db.read().queryKept(ctx, `SELECT r.id, r.status, r.status_code, r.status_reason, r.activity_id, a.revision, o.name
		FROM learner_records r
		JOIN activities a ON a.id = r.activity_id
		JOIN organizations o ON o.id = a.organization_id
		WHERE r.person_id = ? AND NOT r.deleted AND r.status <> ?`, person, except)
	if err != nil {
		return nil, nil, fmt.Errorf("person's learner records: %w", err)
	}
	type row struct {
		id                   cmex.LearnerRecordID
		status, code, reason string
	}
	var found []row
	activities := map[cmex.ActivityID]recordActivity{}
	var missingActs []cmex.ActivityID
	for rows.Next() {
		var r row
		var act cmex.ActivityID
		var rev int64
		var sponsor string
		if err := rows.Scan(&r.id, &r.status, &r.code, &r.reason, &act, &rev, &sponsor); err != nil {
			rows.Close()
			return nil, nil, err
		}
		found = append(found, r)
		if _, ok := activities[act]; !ok {
			a := db.activities.get(act, rev)
			if a == nil {
				missingActs = append(missingActs, act)
			}
			activities[act] = recordActivity{Activity: a, sponsor: sponsor}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("person's learner records: %w", err)
	}

	contents := make(map[cmex.LearnerRecordID]*cmex.LearnerRecord, len(found))
	var missing []cmex.LearnerRecordID
	for _, r := range found {
		if c := db.records.get(r.id); c != nil {
			contents[r.id] = c
		} else {
			missing = append(missing, r.id)
		}
	}
	for _, ids := range chunks(missing) {
		err := db.eachDocument(ctx, "learner_records", anys(ids), func(id int64, _ int64, doc string) error {
			c := new(cmex.LearnerRecord)
			if err := json.Unmarshal([]byte(doc), c); err != nil {
				return fmt.Errorf("decode learner record %d: %w", id, err)
			}
			db.records.put(cmex.LearnerRecordID(id), c)
			contents[cmex.LearnerRecordID(id)] = c
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for _, ids := range chunks(missingActs) {
		err := db.eachDocument(ctx, "activities", anys(ids), func(id, rev int64, doc string) error {
			a := new(cmex.Activity)
			if err := json.Unmarshal([]byte(doc), a); err != nil {
				return fmt.Errorf("decode activity %d: %w", id, err)
			}
			db.activities.put(cmex.ActivityID(id), rev, a)
			ra := activities[cmex.ActivityID(id)]
			ra.Activity = a
			activities[cmex.ActivityID(id)] = ra
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}

	recs := make([]*cmex.LearnerRecord, 0, len(found))
	for _, r := range found {
		c := contents[r.id]
		if c == nil {
			return nil, nil, fmt.Errorf("learner record %d: %w", r.id, sql.ErrNoRows)
		}
		rec := *c
		rec.ID, rec.Status, rec.StatusCode, rec.StatusReason = r.id, cmex.LearnerStatus(r.status), r.code, r.reason
		recs = append(recs, &rec)
		if activities[rec.ActivityID].Activity == nil {
			return nil, nil, fmt.Errorf("activity %d of learner record %d: %w", rec.ActivityID, r.id, sql.ErrNoRows)
		}
	}
	// Sorted here rather than by the engine, which for a few hundred rows
	// costs more than the query itself.
	slices.SortFunc(recs, func(a, b *cmex.LearnerRecord) int {
		if c := a.CompletionDate.Compare(b.CompletionDate); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.ActivityID, b.ActivityID), cmp.Compare(a.ID, b.ID))
	})
	return recs, activities, nil
}

// eachDocument reads the documents of the rows of table (activities or
// learner_records) with the given ids, at most batchChunk, and the
// revision of activities (0 for learner records).
func (db *DB) eachDocument(ctx context.Context, table string, ids []any, fn func(id, revision int64, doc string) error) error {
	rev := "0"
	if table == "activities" {
		rev = "revision"
	}
	rows, err := db.bulkQuery(ctx, db.read(), bulk{head: `SELECT id, ` + rev + `, document FROM ` + table + ` WHERE id IN (`, tuple: "?", tail: ")", width: 1}, nil, ids)
	if err != nil {
		return fmt.Errorf("documents of %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, revision int64
		var doc string
		if err := rows.Scan(&id, &revision, &doc); err != nil {
			return err
		}
		if err := fn(id, revision, doc); err != nil {
			return err
		}
	}
	return rows.Err()
}

// recordActivity is the activity of a learner record, with its provider's
// name.
type recordActivity struct {
	*cmex.Activity
	sponsor string
}

// recordActivities are the activities of learner records, by id.
type recordActivities map[cmex.ActivityID]recordActivity

// describe is what a ceu_order or a transcript shows of r's activity.
func (as recordActivities) describe(r *cmex.LearnerRecord) cmex.LedgerActivity {
	a := as[r.ActivityID]
	return cmex.LedgerActivity{Sponsor: a.sponsor, Title: a.Title, Location: a.Location, Type: a.Type}
}
