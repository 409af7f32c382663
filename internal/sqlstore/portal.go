package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// PortalService implements cmex.PortalService.
type PortalService struct {
	db *DB
}

var _ cmex.PortalService = (*PortalService)(nil)

// NewPortalService returns the staff accounts and portal sessions of db.
func NewPortalService(db *DB) *PortalService { return &PortalService{db: db} }

const staffColumns = "id, username, name, role, organization_id, society_id, created_at"

func scanStaff(row scanner) (*cmex.Staff, error) {
	s := new(cmex.Staff)
	var role string
	var org, society sql.NullInt64
	if err := row.Scan(&s.ID, &s.Username, &s.Name, &role, &org, &society, &s.CreatedAt); err != nil {
		return nil, err
	}
	s.Role, s.Organization, s.Society = cmex.PortalRole(role), cmex.OrganizationID(org.Int64), cmex.SocietyID(society.Int64)
	s.CreatedAt = s.CreatedAt.UTC()
	return s, nil
}

// CreateStaff implements cmex.PortalService.
func (s *PortalService) CreateStaff(ctx context.Context, st *cmex.Staff, password string) error {
	st.Username, st.Name = strings.TrimSpace(st.Username), strings.TrimSpace(st.Name)
	switch {
	case st.Username == "" || len(st.Username) > 100:
		return cmex.Errorf(cmex.EINVALID, "a username is 1 to 100 characters")
	case st.Name == "" || len(st.Name) > 200:
		return cmex.Errorf(cmex.EINVALID, "a staff account needs a name of at most 200 characters")
	}
	if _, ok := cmex.ParsePortalRole(string(st.Role)); !ok {
		return cmex.Errorf(cmex.EINVALID, "the role %q is not one of provider-staff, provider-admin, society-admin, admin", st.Role)
	}
	switch {
	case st.Role.IsProvider() && (st.Organization == 0 || st.Society != 0):
		return cmex.Errorf(cmex.EINVALID, "a %s account names its provider, and no society", st.Role)
	case st.Role == cmex.RoleSocietyAdmin && (st.Society == 0 || st.Organization != 0):
		return cmex.Errorf(cmex.EINVALID, "a society-admin account names its society, and no provider")
	case st.Role == cmex.RoleAdmin && (st.Society != 0 || st.Organization != 0):
		return cmex.Errorf(cmex.EINVALID, "an admin account names no provider and no society")
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("create staff account: %w", err)
	}
	nullable := func(id int64) any {
		if id == 0 {
			return nil
		}
		return id
	}
	return s.db.inTx(ctx, func(tx conn) error {
		// One namespace for every sign-in: a physician's username is taken.
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM gateway_accounts WHERE username_key = ?`, usernameKey(st.Username)).Scan(&n); err != nil {
			return fmt.Errorf("create staff account: %w", err)
		}
		if n > 0 {
			return cmex.Errorf(cmex.ECONFLICT, "the username %s is taken", st.Username)
		}
		st.CreatedAt = s.db.now()
		err := tx.queryRow(ctx, `INSERT INTO staff_accounts
			(username, username_key, name, role, organization_id, society_id, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			st.Username, usernameKey(st.Username), st.Name, string(st.Role), nullable(int64(st.Organization)), nullable(int64(st.Society)), hash, st.CreatedAt).Scan(&st.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return cmex.Errorf(cmex.ECONFLICT, "the username %s is taken", st.Username)
		}
		if err != nil {
			return fmt.Errorf("create staff account: %w", err)
		}
		return s.db.audit(ctx, tx, "staff.add", st.Username, fmt.Sprintf("role %s", st.Role))
	})
}

// ListStaff implements cmex.PortalService.
func (s *PortalService) ListStaff(ctx context.Context) ([]*cmex.Staff, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+staffColumns+` FROM staff_accounts ORDER BY username_key`)
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Staff
	for rows.Next() {
		st, err := scanStaff(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// StaffByUsername implements cmex.PortalService.
func (s *PortalService) StaffByUsername(ctx context.Context, username string) (*cmex.Staff, error) {
	st, err := scanStaff(s.db.read().queryRow(ctx, `SELECT `+staffColumns+` FROM staff_accounts WHERE username_key = ?`, usernameKey(username)))
	if isNoRows(err) {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no staff account %s", username)
	}
	if err != nil {
		return nil, fmt.Errorf("staff account: %w", err)
	}
	return st, nil
}

// SetStaffPassword implements cmex.PortalService.
func (s *PortalService) SetStaffPassword(ctx context.Context, id cmex.StaffID, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("set staff password: %w", err)
	}
	return s.db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `UPDATE staff_accounts SET password_hash = ? WHERE id = ?`, hash, id)
		if err != nil {
			return fmt.Errorf("set staff password: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmex.Errorf(cmex.ENOTFOUND, "no staff account %d", id)
		}
		// Whoever knew the old password is signed out.
		if _, err := tx.exec(ctx, `DELETE FROM portal_sessions WHERE staff_id = ?`, id); err != nil {
			return fmt.Errorf("set staff password: %w", err)
		}
		return s.db.audit(ctx, tx, "staff.password", fmt.Sprint(id), "")
	})
}

// Authenticate implements cmex.PortalService.
func (s *PortalService) Authenticate(ctx context.Context, username, password string) (*cmex.PortalUser, error) {
	var user cmex.PortalUser
	var hash string
	st, err := scanStaff(withExtra{s.db.read().queryRow(ctx,
		`SELECT `+staffColumns+`, password_hash FROM staff_accounts WHERE username_key = ?`, usernameKey(username)), []any{&hash}})
	if err == nil {
		user = cmex.PortalUser{Role: st.Role, Staff: st}
	} else if isNoRows(err) {
		var a *cmex.Account
		a, err = scanAccount(withExtra{s.db.read().queryRow(ctx,
			`SELECT `+accountColumns+`, password_hash FROM gateway_accounts WHERE username_key = ?`, usernameKey(username)), []any{&hash}})
		if err == nil {
			user = cmex.PortalUser{Role: cmex.RolePhysician, Account: a}
		}
	}
	if err := s.db.checkLogin("sign in", err, hash, password); err != nil {
		return nil, err
	}
	return &user, nil
}

// SignIn implements cmex.PortalService.
func (s *PortalService) SignIn(ctx context.Context, username, password string, ttl time.Duration) (*cmex.Session, error) {
	u, err := s.Authenticate(ctx, username, password)
	if err != nil {
		return nil, err
	}
	user := *u
	token, err := newSessionToken()
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	sess := &cmex.Session{Token: token, User: user, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	var account, staff any
	if user.Account != nil {
		account = int64(user.Account.ID)
	} else {
		staff = int64(user.Staff.ID)
	}
	// Expired sessions are swept as new ones begin.
	err = s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM portal_sessions WHERE expires_at < ?`, now); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO portal_sessions (token_hash, account_id, staff_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			tokenHash(token), account, staff, sess.CreatedAt, sess.ExpiresAt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	return sess, nil
}

// Session implements cmex.PortalService.
func (s *PortalService) Session(ctx context.Context, token string) (*cmex.Session, error) {
	denied := cmex.Errorf(cmex.EUNAUTHORIZED, "not signed in")
	if token == "" || len(token) > 100 {
		return nil, denied
	}
	sess := &cmex.Session{Token: token}
	var account, staff sql.NullInt64
	err := s.db.read().queryRow(ctx, `SELECT account_id, staff_id, created_at, expires_at FROM portal_sessions WHERE token_hash = ? AND expires_at > ?`,
		tokenHash(token), s.db.now()).Scan(&account, &staff, &sess.CreatedAt, &sess.ExpiresAt)
	if isNoRows(err) {
		return nil, denied
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt = sess.CreatedAt.UTC(), sess.ExpiresAt.UTC()
	if account.Valid {
		a, err := NewGatewayService(s.db).Account(ctx, cmex.AccountID(account.Int64))
		if err != nil {
			return nil, fmt.Errorf("session's account: %w", err)
		}
		sess.User = cmex.PortalUser{Role: cmex.RolePhysician, Account: a}
		return sess, nil
	}
	st, err := scanStaff(s.db.read().queryRow(ctx, `SELECT `+staffColumns+` FROM staff_accounts WHERE id = ?`, staff.Int64))
	if err != nil {
		return nil, fmt.Errorf("session's staff account: %w", err)
	}
	sess.User = cmex.PortalUser{Role: st.Role, Staff: st}
	return sess, nil
}

// SignOut implements cmex.PortalService.
func (s *PortalService) SignOut(ctx context.Context, token string) error {
	if _, err := s.db.read().exec(ctx, `DELETE FROM portal_sessions WHERE token_hash = ?`, tokenHash(token)); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// newSessionToken returns 256 random bits, URL-safe.
func newSessionToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// tokenHash is what the store keeps of a session token: a token has 256
// random bits, so a plain SHA-256 cannot be reversed, and a stolen table
// holds no usable session.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// SaveVerification implements cmex.PortalService.
func (s *PortalService) SaveVerification(ctx context.Context, v *cmex.TranscriptVerification) error {
	totals, err := json.Marshal(v.Totals)
	if err != nil {
		return err
	}
	v.GeneratedAt = v.GeneratedAt.UTC().Truncate(time.Microsecond)
	if _, err := s.db.read().exec(ctx, `INSERT INTO transcript_verifications (code, account_id, name, generated_at, credits, totals, digest) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		v.Code, v.Account, v.Name, v.GeneratedAt, v.Credits, string(totals), v.Digest); err != nil {
		return fmt.Errorf("save transcript verification: %w", err)
	}
	return nil
}

// Verification implements cmex.PortalService.
func (s *PortalService) Verification(ctx context.Context, code string) (*cmex.TranscriptVerification, error) {
	v := &cmex.TranscriptVerification{}
	var totals string
	err := s.db.read().queryRow(ctx, `SELECT code, account_id, name, generated_at, credits, totals, digest FROM transcript_verifications WHERE code = ?`,
		strings.ToUpper(strings.TrimSpace(code))).Scan(&v.Code, &v.Account, &v.Name, &v.GeneratedAt, &v.Credits, &totals, &v.Digest)
	if err != nil {
		return nil, notFound(err, "no transcript was printed with this code")
	}
	if err := json.Unmarshal([]byte(totals), &v.Totals); err != nil {
		return nil, fmt.Errorf("decode verification totals: %w", err)
	}
	v.GeneratedAt = v.GeneratedAt.UTC()
	return v, nil
}
