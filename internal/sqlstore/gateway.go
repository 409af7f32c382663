package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// GatewayService implements cmex.GatewayService.
type GatewayService struct{ db *DB }

var _ cmex.GatewayService = (*GatewayService)(nil)

// NewGatewayService returns the gateway accounts of db.
func NewGatewayService(db *DB) *GatewayService { return &GatewayService{db: db} }

const accountColumns = "id, username, given_name, family_name, email, address, created_at"

func scanAccount(row scanner) (*cmex.Account, error) {
	var a cmex.Account
	var addr string
	var created time.Time
	if err := row.Scan(&a.ID, &a.Username, &a.GivenName, &a.FamilyName, &a.Email, &addr, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(addr), &a.Address); err != nil {
		return nil, fmt.Errorf("decode account address: %w", err)
	}
	a.CreatedAt = created.UTC()
	return &a, nil
}

// CreateAccount implements cmex.GatewayService.
func (s *GatewayService) CreateAccount(ctx context.Context, a *cmex.Account, password string) error {
	a.Username, a.Email = strings.TrimSpace(a.Username), strings.TrimSpace(a.Email)
	a.GivenName, a.FamilyName = strings.TrimSpace(a.GivenName), strings.TrimSpace(a.FamilyName)
	switch {
	case a.Username == "" || len(a.Username) > 100:
		return cmex.Errorf(cmex.EINVALID, "a username is 1 to 100 characters")
	case a.GivenName == "" || a.FamilyName == "" || len(a.GivenName) > 100 || len(a.FamilyName) > 100:
		return cmex.Errorf(cmex.EINVALID, "an account needs a given and a family name of at most 100 characters each")
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			return cmex.Errorf(cmex.EINVALID, "%q is not an e-mail address", a.Email)
		}
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("create account: %w", err)
	}
	addr, err := json.Marshal(a.Address)
	if err != nil {
		return err
	}
	taken := false
	err = s.db.inTx(ctx, func(tx conn) error {
		// One namespace for every portal sign-in: a staff username is taken.
		key := usernameKey(a.Username)
		var n int
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM staff_accounts WHERE username_key = ?)
			+ (SELECT count(*) FROM gateway_accounts WHERE username_key = ?)`, key, key).Scan(&n); err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		if n > 0 {
			// A taken username costs what a free one does, a commit
			// included, so that a public sign-up's timing does not tell
			// them apart; the entry lets operators see names probed.
			taken = true
			return s.db.audit(ctx, tx, "account.taken", a.Username, "sign-up with a username in use")
		}
		a.CreatedAt = s.db.now()
		err := tx.queryRow(ctx, `INSERT INTO gateway_accounts
			(username, username_key, password_hash, given_name, family_name, email, address, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			a.Username, usernameKey(a.Username), hash, a.GivenName, a.FamilyName, a.Email, string(addr), a.CreatedAt).Scan(&a.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return cmex.Errorf(cmex.ECONFLICT, "the username %s is taken", a.Username)
		}
		if err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		return s.db.audit(ctx, tx, "account.add", a.Username, fmt.Sprintf("account %d", a.ID))
	})
	if err == nil && taken {
		err = cmex.Errorf(cmex.ECONFLICT, "the username %s is taken", a.Username)
	}
	return err
}

// AuthenticateAccount implements cmex.GatewayService.
func (s *GatewayService) AuthenticateAccount(ctx context.Context, username, password string) (*cmex.Account, error) {
	var hash string
	a, err := scanAccount(withExtra{s.db.read().queryRow(ctx,
		`SELECT `+accountColumns+`, password_hash FROM gateway_accounts WHERE username_key = ?`, usernameKey(username)), []any{&hash}})
	if err := s.db.checkLogin("authenticate account", err, hash, password); err != nil {
		return nil, err
	}
	return a, nil
}

// SetAccountPassword implements cmex.GatewayService.
func (s *GatewayService) SetAccountPassword(ctx context.Context, id cmex.AccountID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("set account password: %w", err)
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `UPDATE gateway_accounts SET password_hash = ? WHERE id = ?`, hash, id)
		if err != nil {
			return "", "", "", fmt.Errorf("set account password: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "account not found")
		}
		return "account.password", fmt.Sprint(id), "", nil
	})
}

// Account implements cmex.GatewayService.
func (s *GatewayService) Account(ctx context.Context, id cmex.AccountID) (*cmex.Account, error) {
	a, err := scanAccount(s.db.read().queryRow(ctx, `SELECT `+accountColumns+` FROM gateway_accounts WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "account not found")
	}
	return a, nil
}

// AccountByUsername implements cmex.GatewayService.
func (s *GatewayService) AccountByUsername(ctx context.Context, username string) (*cmex.Account, error) {
	a, err := scanAccount(s.db.read().queryRow(ctx, `SELECT `+accountColumns+` FROM gateway_accounts WHERE username_key = ?`, usernameKey(username)))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("account %s not found", username))
	}
	return a, nil
}

// ListAccounts implements cmex.GatewayService.
func (s *GatewayService) ListAccounts(ctx context.Context) ([]*cmex.Account, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+accountColumns+` FROM gateway_accounts ORDER BY username_key`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// SaveBinding implements cmex.GatewayService.
func (s *GatewayService) SaveBinding(ctx context.Context, b *cmex.Binding) error {
	b.MemberID = strings.TrimSpace(b.MemberID)
	if b.MemberID == "" || len(b.MemberID) > 64 {
		return cmex.Errorf(cmex.EINVALID, "a member id is 1 to 64 characters")
	}
	b.BoundAt = s.db.now()
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM gateway_bindings WHERE account_id = ? AND society_id = ?`, b.AccountID, b.SocietyID); err != nil {
			return fmt.Errorf("save binding: %w", err)
		}
		_, err := tx.exec(ctx, `INSERT INTO gateway_bindings (account_id, society_id, member_id, bound_at) VALUES (?, ?, ?, ?)`,
			b.AccountID, b.SocietyID, b.MemberID, b.BoundAt)
		if s.db.dialect.IsUniqueViolation(err) {
			return cmex.Errorf(cmex.ECONFLICT, "this society member is already bound to another account")
		}
		if err != nil {
			return fmt.Errorf("save binding: %w", err)
		}
		return s.db.audit(ctx, tx, "binding.add", fmt.Sprint(b.AccountID), fmt.Sprintf("society %d, member %s", b.SocietyID, b.MemberID))
	})
}

const bindingColumns = "b.account_id, b.society_id, s.code, b.member_id, b.bound_at"

func scanBinding(row scanner) (*cmex.Binding, error) {
	var b cmex.Binding
	var at time.Time
	if err := row.Scan(&b.AccountID, &b.SocietyID, &b.SocietyCode, &b.MemberID, &at); err != nil {
		return nil, err
	}
	b.BoundAt = at.UTC()
	return &b, nil
}

// Bindings implements cmex.GatewayService.
func (s *GatewayService) Bindings(ctx context.Context, account cmex.AccountID) ([]*cmex.Binding, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+bindingColumns+` FROM gateway_bindings b JOIN societies s ON s.id = b.society_id
		WHERE b.account_id = ? ORDER BY s.code`, account)
	if err != nil {
		return nil, fmt.Errorf("bindings: %w", err)
	}
	defer rows.Close()
	out := []*cmex.Binding{}
	for rows.Next() {
		b, err := scanBinding(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// AccountPersons implements cmex.GatewayService.
func (s *GatewayService) AccountPersons(ctx context.Context, account cmex.AccountID) ([]cmex.PersonID, error) {
	ids, err := scanColumn[int64](s.db.read().query(ctx, `SELECT m.person_id FROM gateway_bindings b
		JOIN society_members m ON m.society_id = b.society_id AND m.member_id = b.member_id
		WHERE b.account_id = ? AND m.person_id IS NOT NULL
		UNION SELECT person_id FROM account_persons WHERE account_id = ? ORDER BY 1`, account, account))
	if err != nil {
		return nil, fmt.Errorf("account's persons: %w", err)
	}
	out := make([]cmex.PersonID, len(ids))
	for i, id := range ids {
		out[i] = cmex.PersonID(id)
	}
	return out, nil
}

// BindingByMember implements cmex.GatewayService.
func (s *GatewayService) BindingByMember(ctx context.Context, society cmex.SocietyID, memberID string) (*cmex.Binding, error) {
	b, err := scanBinding(s.db.read().queryRow(ctx, `SELECT `+bindingColumns+` FROM gateway_bindings b JOIN societies s ON s.id = b.society_id
		WHERE b.society_id = ? AND b.member_id = ?`, society, strings.TrimSpace(memberID)))
	if err != nil {
		return nil, notFound(err, "no account is bound to this member")
	}
	return b, nil
}

// DeleteBinding implements cmex.GatewayService.
func (s *GatewayService) DeleteBinding(ctx context.Context, account cmex.AccountID, society cmex.SocietyID) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `DELETE FROM gateway_bindings WHERE account_id = ? AND society_id = ?`, account, society)
		if err != nil {
			return "", "", "", fmt.Errorf("delete binding: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "the account is not bound to this society")
		}
		return "binding.delete", fmt.Sprint(account), fmt.Sprintf("society %d", society), nil
	})
}

// AddSelfCredit implements cmex.GatewayService.
func (s *GatewayService) AddSelfCredit(ctx context.Context, c *cmex.SelfCredit) error {
	if err := cmex.CheckCEU(&c.CEU); err != nil {
		return err
	}
	doc, err := json.Marshal(&c.CEU)
	if err != nil {
		return err
	}
	if c.Certificate != nil {
		if err := cmex.CheckCertificate(c.Certificate); err != nil {
			return err
		}
	}
	c.CreatedAt = s.db.now()
	return s.db.inTx(ctx, func(tx conn) error {
		err := tx.queryRow(ctx, `INSERT INTO self_credits (account_id, credit_date, document, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			c.AccountID, c.Date, string(doc), c.CreatedAt).Scan(&c.ID)
		if err != nil {
			return fmt.Errorf("add self-attested credit: %w", err)
		}
		if f := c.Certificate; f != nil {
			if _, err := tx.exec(ctx, `INSERT INTO self_credit_certificates (self_credit_id, name, content_type, size, data) VALUES (?, ?, ?, ?, ?)`,
				c.ID, f.Name, f.ContentType, f.Size, f.Data); err != nil {
				return fmt.Errorf("add certificate: %w", err)
			}
		}
		return s.db.audit(ctx, tx, "self-credit.add", fmt.Sprint(c.ID), fmt.Sprintf("account %d, %q on %s", c.AccountID, c.Title, c.Date))
	})
}

// SelfCreditCertificate implements cmex.GatewayService.
func (s *GatewayService) SelfCreditCertificate(ctx context.Context, account cmex.AccountID, id int64) (*cmex.Certificate, error) {
	f := new(cmex.Certificate)
	err := s.db.read().queryRow(ctx, `SELECT f.name, f.content_type, f.size, f.data FROM self_credit_certificates f
		JOIN self_credits c ON c.id = f.self_credit_id WHERE c.account_id = ? AND c.id = ?`, account, id).Scan(&f.Name, &f.ContentType, &f.Size, &f.Data)
	if err != nil {
		return nil, notFound(err, "no certificate")
	}
	return f, nil
}

// SelfCredits implements cmex.GatewayService.
func (s *GatewayService) SelfCredits(ctx context.Context, account cmex.AccountID) ([]*cmex.SelfCredit, error) {
	rows, err := s.db.read().query(ctx, `SELECT c.id, c.document, c.created_at, f.name, f.content_type, f.size FROM self_credits c
		LEFT JOIN self_credit_certificates f ON f.self_credit_id = c.id
		WHERE c.account_id = ? ORDER BY c.credit_date, c.id`, account)
	if err != nil {
		return nil, fmt.Errorf("self-attested credits: %w", err)
	}
	defer rows.Close()
	out := []*cmex.SelfCredit{}
	for rows.Next() {
		c := &cmex.SelfCredit{AccountID: account}
		var doc string
		var name, ctype sql.NullString
		var size sql.NullInt64
		if err := rows.Scan(&c.ID, &doc, &c.CreatedAt, &name, &ctype, &size); err != nil {
			return nil, err
		}
		if name.Valid {
			c.Certificate = &cmex.Certificate{Name: name.String, ContentType: ctype.String, Size: int(size.Int64)}
		}
		if err := json.Unmarshal([]byte(doc), &c.CEU); err != nil {
			return nil, fmt.Errorf("decode self-attested credit %d: %w", c.ID, err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteSelfCredit implements cmex.GatewayService.
func (s *GatewayService) DeleteSelfCredit(ctx context.Context, account cmex.AccountID, id int64) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM self_credit_certificates WHERE self_credit_id IN (SELECT id FROM self_credits WHERE account_id = ? AND id = ?)`,
			account, id); err != nil {
			return fmt.Errorf("delete certificate: %w", err)
		}
		res, err := tx.exec(ctx, `DELETE FROM self_credits WHERE account_id = ? AND id = ?`, account, id)
		if err != nil {
			return fmt.Errorf("delete self-attested credit: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmex.Errorf(cmex.ENOTFOUND, "no self-attested credit %d", id)
		}
		return s.db.audit(ctx, tx, "self-credit.delete", fmt.Sprint(id), fmt.Sprintf("account %d", account))
	})
}

// CachedOrder implements cmex.GatewayService.
func (s *GatewayService) CachedOrder(ctx context.Context, society cmex.SocietyID, memberID string) (*cmex.CachedOrder, error) {
	o := &cmex.CachedOrder{SocietyID: society, MemberID: memberID, Customer: new(cmex.Customer)}
	var doc string
	err := s.db.read().queryRow(ctx, `SELECT document, fetched_at FROM gateway_orders WHERE society_id = ? AND member_id = ?`,
		society, memberID).Scan(&doc, &o.FetchedAt)
	if err != nil {
		return nil, notFound(err, "no cached answer")
	}
	if err := json.Unmarshal([]byte(doc), o.Customer); err != nil {
		return nil, fmt.Errorf("decode cached order: %w", err)
	}
	o.FetchedAt = o.FetchedAt.UTC()
	return o, nil
}

// StoreOrder implements cmex.GatewayService.
func (s *GatewayService) StoreOrder(ctx context.Context, o *cmex.CachedOrder) error {
	doc, err := json.Marshal(o.Customer)
	if err != nil {
		return err
	}
	_, err = s.db.read().exec(ctx, `INSERT INTO gateway_orders (society_id, member_id, document, fetched_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (society_id, member_id) DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at`,
		o.SocietyID, o.MemberID, string(doc), o.FetchedAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("cache order: %w", err)
	}
	return nil
}
