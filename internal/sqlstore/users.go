package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// UserService implements cmex.UserService.
type UserService struct{ db *DB }

var _ cmex.UserService = (*UserService)(nil)

// NewUserService returns the web-service user service of db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

// usernameKey is how usernames are compared: PARS users are e-mail
// addresses, which people type in any case.
func usernameKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkPassword(p string) error {
	switch {
	case p == "":
		return cmex.Errorf(cmex.EINVALID, "the password is empty")
	case len(p) > cmex.MaxPasswordBytes:
		return cmex.Errorf(cmex.EINVALID, "the password is longer than %d bytes", cmex.MaxPasswordBytes)
	}
	return nil
}

// CreateWebServiceUser implements cmex.UserService.
func (s *UserService) CreateWebServiceUser(ctx context.Context, u *cmex.WebServiceUser, password string) error {
	u.Username = strings.TrimSpace(u.Username)
	switch {
	case u.Username == "":
		return cmex.Errorf(cmex.EINVALID, "a user needs a name")
	case len(u.Username) > 100:
		return cmex.Errorf(cmex.EINVALID, "a username is at most 100 characters, as in PARS")
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u.CreatedAt = s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx,
			`INSERT INTO web_service_users (organization_id, username, username_key, password_hash, created_at, password_changed_at)
			 VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			u.OrganizationID, u.Username, usernameKey(u.Username), hash, u.CreatedAt, u.CreatedAt).Scan(&u.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "user %s already exists", u.Username)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("create user: %w", err)
		}
		return "web-service-user.add", u.Username, fmt.Sprintf("organization %d", u.OrganizationID), nil
	})
}

// SetWebServiceUserPassword implements cmex.UserService.
func (s *UserService) SetWebServiceUserPassword(ctx context.Context, org cmex.OrganizationID, username, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.db.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx,
			`UPDATE web_service_users SET password_hash = ?, password_changed_at = ? WHERE organization_id = ? AND username_key = ?`,
			hash, s.db.now(), org, usernameKey(username))
		if err != nil {
			return "", "", "", fmt.Errorf("set password: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", "", "", fmt.Errorf("set password: %w", err)
		} else if n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "user %s not found", username)
		}
		return "web-service-user.password", username, fmt.Sprintf("organization %d", org), nil
	})
}

// ListWebServiceUsers implements cmex.UserService.
func (s *UserService) ListWebServiceUsers(ctx context.Context, org cmex.OrganizationID) ([]*cmex.WebServiceUser, error) {
	rows, err := s.db.read().query(ctx,
		`SELECT id, organization_id, username, created_at, password_changed_at, disabled_at FROM web_service_users
		  WHERE organization_id = ? ORDER BY username_key`, org)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*cmex.WebServiceUser
	for rows.Next() {
		var u cmex.WebServiceUser
		var created, changed time.Time
		var disabled sql.NullTime
		if err := rows.Scan(&u.ID, &u.OrganizationID, &u.Username, &created, &changed, &disabled); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt, u.PasswordChangedAt = created.UTC(), changed.UTC()
		if disabled.Valid {
			u.Disabled, u.DisabledAt = true, disabled.Time.UTC()
		}
		out = append(out, &u)
	}
	return out, rows.Err()
}

// SetWebServiceUserDisabled implements cmex.UserService. Authenticate
// reads the user's state with every check, and a remembered check
// (PasswordHasher's cache) only stands for the hash comparison, so the
// change holds from the next request on, on every replica.
func (s *UserService) SetWebServiceUserDisabled(ctx context.Context, org cmex.OrganizationID, username string, disabled bool) error {
	return unchanged(s.db.change(ctx, func(tx conn) (string, string, string, error) {
		var id cmex.UserID
		var name string
		var at sql.NullTime
		err := tx.queryRow(ctx, `SELECT id, username, disabled_at FROM web_service_users WHERE organization_id = ? AND username_key = ?`+s.db.dialect.ForUpdate(),
			org, usernameKey(username)).Scan(&id, &name, &at)
		if err != nil {
			return "", "", "", notFound(err, fmt.Sprintf("user %s not found", username))
		}
		action := "web-service-user.enable"
		var set any
		if disabled {
			action, set = "web-service-user.disable", s.db.now()
		}
		if at.Valid == disabled {
			return "", "", "", errUnchanged
		}
		if _, err := tx.exec(ctx, `UPDATE web_service_users SET disabled_at = ? WHERE id = ?`, set, id); err != nil {
			return "", "", "", fmt.Errorf("disable user: %w", err)
		}
		return action, name, fmt.Sprintf("organization %d", org), nil
	}))
}

// Authenticate implements cmex.UserService. Every failure is the same
// EUNAUTHORIZED error and takes about as long, whichever part was wrong.
func (s *UserService) Authenticate(ctx context.Context, provider cmex.ProviderID, username, password string) (*cmex.Principal, error) {
	denied := cmex.Errorf(cmex.EUNAUTHORIZED, "invalid user: access denied")
	if len(password) > cmex.MaxPasswordBytes {
		return nil, denied
	}
	q := `SELECT u.id, u.username, u.created_at, u.password_hash, o.id, o.kind, o.provider_id, o.name, o.created_at
		   FROM web_service_users u JOIN organizations o ON o.id = u.organization_id
		  WHERE u.username_key = ? AND u.disabled_at IS NULL`
	args := []any{usernameKey(username)}
	if provider != "" {
		q += ` AND o.provider_id = ?`
		args = append(args, string(provider))
	}
	// Every web-service call comes here: the statement is kept prepared.
	rows, err := s.db.read().queryKept(ctx, q+` ORDER BY u.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	type candidate struct {
		p    cmex.Principal
		hash string
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		var kind string
		var providerID *string
		var userCreated, orgCreated time.Time
		if err := rows.Scan(&c.p.User.ID, &c.p.User.Username, &userCreated, &c.hash, &c.p.Organization.ID, &kind, &providerID, &c.p.Organization.Name, &orgCreated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		c.p.User.OrganizationID = c.p.Organization.ID
		c.p.User.CreatedAt = userCreated.UTC()
		c.p.Organization.Kind = cmex.OrganizationKind(kind)
		if providerID != nil {
			c.p.Organization.ProviderID = cmex.ProviderID(*providerID)
		}
		c.p.Organization.CreatedAt = orgCreated.UTC()
		cands = append(cands, c)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if len(cands) == 0 {
		if err := s.db.Hasher.Burn(password); err != nil {
			return nil, err
		}
		return nil, denied
	}
	for _, c := range cands {
		ok, err := s.db.Hasher.Verify(c.hash, password)
		if cmex.ErrorCode(err) == cmex.EBUSY {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate user %d: %w", c.p.User.ID, err)
		}
		if ok {
			return &c.p, nil
		}
	}
	return nil, denied
}
