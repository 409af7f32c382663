package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// PersonService implements cmex.PersonService: the learner registry.
type PersonService struct{ db *DB }

var _ cmex.PersonService = (*PersonService)(nil)

// NewPersonService returns the learner registry of db.
func NewPersonService(db *DB) *PersonService { return &PersonService{db: db} }

// identifier is one row of person_identifiers.
type identifier struct{ kind, scope, value string }

func (i identifier) String() string {
	switch i.kind {
	case "npi":
		return "NPI " + i.value
	case "license":
		return i.scope + " licence " + i.value
	case "board":
		return i.scope + " id " + i.value
	}
	return "OCI ID " + i.value
}

// identifiers lists the identifiers of p in the form person_identifiers
// keeps them.
func identifiers(p *cmex.Person) []identifier {
	var ids []identifier
	if p.NPI != "" {
		ids = append(ids, identifier{"npi", "", cmex.IDKey(p.NPI)})
	}
	for _, l := range p.Licenses {
		ids = append(ids, identifier{"license", strings.ToUpper(l.State), cmex.IDKey(l.Number)})
	}
	for _, b := range p.BoardIDs {
		board, _ := cmex.Boards.Lookup(b.Board)
		ids = append(ids, identifier{"board", board, cmex.IDKey(b.ID)})
	}
	if p.OCIID != "" {
		ids = append(ids, identifier{"oci", "", cmex.IDKey(p.OCIID)})
	}
	return ids
}

func nameKey(p *cmex.Person) string {
	return cmex.NameKey(p.FamilyName) + "|" + cmex.NameKey(p.GivenName)
}

// ImportPersons implements cmex.PersonService.
func (s *PersonService) ImportPersons(ctx context.Context, ps []*cmex.Person) (cmex.ImportResult, error) {
	var res cmex.ImportResult
	err := s.db.inTx(ctx, func(tx conn) error {
		res = cmex.ImportResult{}
		var problems cmex.Problems
		now := s.db.now()
		for i, p := range ps {
			outcome, problem, err := s.importOne(ctx, tx, p, now)
			if err != nil {
				return fmt.Errorf("import person %d: %w", i+1, err)
			}
			switch {
			case problem != "":
				problems = append(problems, cmex.Problem{Field: fmt.Sprintf("person[%d]", i+1), Message: problem})
			case outcome == "created":
				res.Created++
			case outcome == "updated":
				res.Updated++
			default:
				res.Unchanged++
			}
		}
		if len(problems) > 0 {
			return &cmex.Error{Code: cmex.EINVALID, Message: "the import conflicts with the registry; nothing was imported", Problems: problems}
		}
		return s.db.audit(ctx, tx, "persons.import", fmt.Sprintf("%d persons", len(ps)),
			fmt.Sprintf("%d created, %d updated, %d unchanged", res.Created, res.Updated, res.Unchanged))
	})
	return res, err
}

// PersonOutcome is what an import did with one person: "created",
// "updated" or "unchanged", or the problem that kept it out.
type PersonOutcome struct {
	Outcome, Problem string
}

// ImportPersonsEach imports each person that does not conflict with the
// registry, in one transaction, and says what became of every one; unlike
// ImportPersons, a conflict refuses that person only. Batch imports use it
// to report person by person.
func (s *PersonService) ImportPersonsEach(ctx context.Context, ps []*cmex.Person) ([]PersonOutcome, error) {
	var out []PersonOutcome
	err := s.db.inTx(ctx, func(tx conn) error {
		out = make([]PersonOutcome, len(ps))
		now := s.db.now()
		for i, p := range ps {
			outcome, problem, err := s.importOne(ctx, tx, p, now)
			if err != nil {
				return fmt.Errorf("import person %d: %w", i+1, err)
			}
			out[i] = PersonOutcome{outcome, problem}
		}
		return s.db.audit(ctx, tx, "persons.import", fmt.Sprintf("%d persons", len(ps)), "each judged on its own")
	})
	return out, err
}

// importOne adds p or merges it into the person it already is.
func (s *PersonService) importOne(ctx context.Context, tx conn, p *cmex.Person, now time.Time) (outcome, problem string, err error) {
	ids := identifiers(p)
	owners := map[cmex.PersonID][]identifier{}
	for _, id := range ids {
		var owner cmex.PersonID
		err := tx.queryRow(ctx, `SELECT person_id FROM person_identifiers WHERE kind = ? AND scope = ? AND value = ?`, id.kind, id.scope, id.value).Scan(&owner)
		if err == nil {
			owners[owner] = append(owners[owner], id)
		} else if !isNoRows(err) {
			return "", "", err
		}
	}
	var existing *cmex.Person
	switch len(owners) {
	case 0:
		same, err := scanPersons(tx.query(ctx, `SELECT id, document FROM persons WHERE name_key = ? AND birth_date = ?`, nameKey(p), p.BirthDate))
		if err != nil {
			return "", "", err
		}
		if len(same) > 1 {
			return "", fmt.Sprintf("%s %s born %s matches %d persons of the registry; give an identifier they hold", p.GivenName, p.FamilyName, p.BirthDate, len(same)), nil
		}
		if len(same) == 1 {
			existing = same[0]
		}
	case 1:
		for id := range owners {
			if existing, err = s.person(ctx, tx, id); err != nil {
				return "", "", err
			}
		}
		if nameKey(existing) != nameKey(p) || existing.BirthDate != p.BirthDate {
			return "", fmt.Sprintf("%s belongs to %s %s born %s, not to %s %s born %s",
				owners[existing.ID][0], existing.GivenName, existing.FamilyName, existing.BirthDate,
				p.GivenName, p.FamilyName, p.BirthDate), nil
		}
	default:
		var who []string
		for id, held := range owners {
			who = append(who, fmt.Sprintf("%s (person %d)", held[0], id))
		}
		sort.Strings(who)
		return "", fmt.Sprintf("the identifiers of %s %s belong to different persons: %s", p.GivenName, p.FamilyName, strings.Join(who, ", ")), nil
	}

	if existing == nil {
		p.CreatedAt, p.UpdatedAt = now, now
		doc, err := json.Marshal(p)
		if err != nil {
			return "", "", err
		}
		if err := tx.queryRow(ctx, `INSERT INTO persons (given_name, family_name, name_key, birth_date, document, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, p.GivenName, p.FamilyName, nameKey(p), p.BirthDate, string(doc), now, now).Scan(&p.ID); err != nil {
			return "", "", err
		}
		return "created", "", insertIdentifiers(ctx, tx, p.ID, ids)
	}

	merged, conflict := mergePerson(existing, p)
	if conflict != "" {
		return "", conflict, nil
	}
	p.ID = existing.ID
	if merged == nil {
		return "unchanged", "", nil
	}
	merged.UpdatedAt = now
	doc, err := json.Marshal(merged)
	if err != nil {
		return "", "", err
	}
	if _, err := tx.exec(ctx, `UPDATE persons SET document = ?, updated_at = ? WHERE id = ?`, string(doc), now, merged.ID); err != nil {
		return "", "", err
	}
	var missing []identifier
	for _, id := range identifiers(merged) {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM person_identifiers WHERE kind = ? AND scope = ? AND value = ?`, id.kind, id.scope, id.value).Scan(&n); err != nil {
			return "", "", err
		}
		if n == 0 {
			missing = append(missing, id)
		}
	}
	return "updated", "", insertIdentifiers(ctx, tx, merged.ID, missing)
}

// mergePerson returns existing completed with what p adds, nil when p adds
// nothing, or the conflict that forbids merging.
func mergePerson(existing, p *cmex.Person) (*cmex.Person, string) {
	m := *existing
	m.Licenses = append([]cmex.License(nil), existing.Licenses...)
	m.BoardIDs = append([]cmex.BoardID(nil), existing.BoardIDs...)
	changed := false
	single := func(what string, have *string, want string, key func(string) string) string {
		switch {
		case want == "" || key(*have) == key(want):
			return ""
		case *have == "":
			*have, changed = want, true
			return ""
		}
		return fmt.Sprintf("%s %s has %s %s in the registry, not %s", existing.GivenName, existing.FamilyName, what, *have, want)
	}
	for _, c := range []string{
		single("NPI", &m.NPI, p.NPI, cmex.IDKey),
		single("OCI ID", &m.OCIID, p.OCIID, cmex.IDKey),
		single("medical school", &m.MedicalSchool, p.MedicalSchool, cmex.NameKey),
		single("e-mail", &m.Email, p.Email, strings.ToLower),
	} {
		if c != "" {
			return nil, c
		}
	}
	for _, l := range p.Licenses {
		if !hasLicense(m.Licenses, l) {
			m.Licenses, changed = append(m.Licenses, l), true
		}
	}
	for _, b := range p.BoardIDs {
		if !hasBoardID(m.BoardIDs, b) {
			m.BoardIDs, changed = append(m.BoardIDs, b), true
		}
	}
	if !changed {
		return nil, ""
	}
	return &m, ""
}

func hasLicense(ls []cmex.License, l cmex.License) bool {
	for _, have := range ls {
		if strings.EqualFold(have.State, l.State) && cmex.IDKey(have.Number) == cmex.IDKey(l.Number) {
			return true
		}
	}
	return false
}

func hasBoardID(bs []cmex.BoardID, b cmex.BoardID) bool {
	for _, have := range bs {
		if strings.EqualFold(have.Board, b.Board) && cmex.IDKey(have.ID) == cmex.IDKey(b.ID) {
			return true
		}
	}
	return false
}

func insertIdentifiers(ctx context.Context, tx conn, id cmex.PersonID, ids []identifier) error {
	for _, i := range ids {
		if _, err := tx.exec(ctx, `INSERT INTO person_identifiers (person_id, kind, scope, value) VALUES (?, ?, ?, ?)`, id, i.kind, i.scope, i.value); err != nil {
			return fmt.Errorf("identifier %s: %w", i, err)
		}
	}
	return nil
}

// Person implements cmex.PersonService.
func (s *PersonService) Person(ctx context.Context, id cmex.PersonID) (*cmex.Person, error) {
	p, err := s.person(ctx, s.db.read(), id)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("person %d not found", id))
	}
	return p, nil
}

func (s *PersonService) person(ctx context.Context, q conn, id cmex.PersonID) (*cmex.Person, error) {
	ps, err := scanPersons(q.query(ctx, `SELECT id, document FROM persons WHERE id = ?`, id))
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, sql.ErrNoRows
	}
	return ps[0], nil
}

// FindPersons implements cmex.PersonService.
func (s *PersonService) FindPersons(ctx context.Context, f cmex.PersonFilter) ([]*cmex.Person, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	ps, err := scanPersons(s.db.read().query(ctx, `SELECT id, document FROM persons WHERE name_key LIKE ? ORDER BY name_key, id LIMIT ?`,
		"%"+cmex.NameKey(f.Name)+"%", limit))
	if err != nil {
		return nil, fmt.Errorf("find persons: %w", err)
	}
	return ps, nil
}

// MatchPersons implements cmex.PersonService.
func (s *PersonService) MatchPersons(ctx context.Context, q cmex.MatchQuery) ([]*cmex.Person, error) {
	cands, err := candidates(ctx, s.db.read(), q)
	if err != nil {
		return nil, err
	}
	var out []*cmex.Person
	for _, p := range cands {
		if q.Matches(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// candidates returns the persons holding any identifier of q, or, when q
// has none, those with its name.
func candidates(ctx context.Context, c conn, q cmex.MatchQuery) ([]*cmex.Person, error) {
	if !q.HasIdentifier() {
		if q.FamilyName == "" {
			return nil, nil
		}
		ps, err := scanPersons(c.query(ctx, `SELECT id, document FROM persons WHERE name_key = ? ORDER BY id`,
			cmex.NameKey(q.FamilyName)+"|"+cmex.NameKey(q.GivenName)))
		if err != nil {
			return nil, fmt.Errorf("persons by name: %w", err)
		}
		return ps, nil
	}
	var where []string
	var args []any
	if q.NPI != "" {
		where, args = append(where, "(kind = 'npi' AND value = ?)"), append(args, cmex.IDKey(q.NPI))
	}
	if q.OCIID != "" {
		where, args = append(where, "(kind = 'oci' AND value = ?)"), append(args, cmex.IDKey(q.OCIID))
	}
	if q.LicenseNumber != "" {
		if q.LicenseState != "" {
			where, args = append(where, "(kind = 'license' AND scope = ? AND value = ?)"), append(args, strings.ToUpper(q.LicenseState), cmex.IDKey(q.LicenseNumber))
		} else {
			where, args = append(where, "(kind = 'license' AND value = ?)"), append(args, cmex.IDKey(q.LicenseNumber))
		}
	}
	for _, b := range q.BoardIDs {
		if b.ID == "" {
			continue
		}
		board, _ := cmex.Boards.Lookup(b.Board)
		where, args = append(where, "(kind = 'board' AND scope = ? AND value = ?)"), append(args, board, cmex.IDKey(b.ID))
	}
	ps, err := scanPersons(c.query(ctx, `SELECT id, document FROM persons WHERE id IN (SELECT person_id FROM person_identifiers WHERE `+
		strings.Join(where, " OR ")+`) ORDER BY id`, args...))
	if err != nil {
		return nil, fmt.Errorf("persons by identifier: %w", err)
	}
	return ps, nil
}

// scanPersons reads rows of (id, document); the id column is
// authoritative, so documents are written before the id is known.
func scanPersons(rows *sql.Rows, err error) ([]*cmex.Person, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cmex.Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// scanPerson reads a row of id and document.
func scanPerson(row scanner) (*cmex.Person, error) {
	var id cmex.PersonID
	var doc string
	if err := row.Scan(&id, &doc); err != nil {
		return nil, err
	}
	var p cmex.Person
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode person %d: %w", id, err)
	}
	p.ID = id
	return &p, nil
}
