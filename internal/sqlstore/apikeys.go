package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// APIKeyService implements cmex.APIKeyService. A token is
// "cmex_<prefix>_<secret>": the prefix finds the key, the secret (256
// random bits) is checked against its SHA-256, which is all that is kept.
// A slow hash would add nothing for a secret of that strength.
type APIKeyService struct{ db *DB }

var _ cmex.APIKeyService = (*APIKeyService)(nil)

// NewAPIKeyService returns the API keys of db.
func NewAPIKeyService(db *DB) *APIKeyService { return &APIKeyService{db: db} }

const tokenPrefix = "cmex_"

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newToken returns a new prefix and secret.
func newToken() (prefix, secret string, err error) {
	var p [4]byte
	var sec [32]byte
	if _, err := rand.Read(p[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(p[:]), hex.EncodeToString(sec[:]), nil
}

// CreateAPIKey implements cmex.APIKeyService.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, org cmex.OrganizationID, name string) (*cmex.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", cmex.Errorf(cmex.EINVALID, "an API key needs a name of at most 100 characters")
	}
	prefix, secret, err := newToken()
	if err != nil {
		return nil, "", err
	}
	k := &cmex.APIKey{OrganizationID: org, Name: name, Prefix: prefix, CreatedAt: s.db.now()}
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx, `INSERT INTO api_keys (organization_id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			org, name, prefix, secretHash(secret), k.CreatedAt).Scan(&k.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "an API key named %s already exists", name)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("create API key: %w", err)
		}
		return "api-key.add", name, fmt.Sprintf("organization %d, prefix %s", org, prefix), nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, tokenPrefix + prefix + "_" + secret, nil
}

// RotateAPIKey implements cmex.APIKeyService: a new prefix and secret
// replace the old ones in the key's row, so the old token finds no key.
func (s *APIKeyService) RotateAPIKey(ctx context.Context, org cmex.OrganizationID, name string) (*cmex.APIKey, string, error) {
	prefix, secret, err := newToken()
	if err != nil {
		return nil, "", err
	}
	var k *cmex.APIKey
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `UPDATE api_keys SET prefix = ?, hash = ? WHERE organization_id = ? AND name = ?`, prefix, secretHash(secret), org, name)
		if err := affected(res, err, fmt.Sprintf("no API key named %s", name)); err != nil {
			return "", "", "", err
		}
		if k, err = scanAPIKey(tx.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE organization_id = ? AND name = ?`, org, name)); err != nil {
			return "", "", "", fmt.Errorf("rotate API key: %w", err)
		}
		return "api-key.rotate", name, fmt.Sprintf("organization %d, new prefix %s", org, prefix), nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, tokenPrefix + prefix + "_" + secret, nil
}

// SetAPIKeyDisabled implements cmex.APIKeyService. AuthenticateAPIKey
// reads the key's row at every request and remembers nothing, so the
// change holds from the next request on, on every replica.
func (s *APIKeyService) SetAPIKeyDisabled(ctx context.Context, org cmex.OrganizationID, name string, disabled bool) error {
	return unchanged(s.db.change(ctx, func(tx conn) (string, string, string, error) {
		k, err := scanAPIKey(tx.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE organization_id = ? AND name = ?`+s.db.dialect.ForUpdate(), org, name))
		if err != nil {
			return "", "", "", notFound(err, fmt.Sprintf("no API key named %s", name))
		}
		if k.Disabled == disabled {
			return "", "", "", errUnchanged
		}
		action := "api-key.enable"
		var set any
		if disabled {
			action, set = "api-key.disable", s.db.now()
		}
		if _, err := tx.exec(ctx, `UPDATE api_keys SET disabled_at = ? WHERE id = ?`, set, k.ID); err != nil {
			return "", "", "", fmt.Errorf("disable API key: %w", err)
		}
		return action, name, fmt.Sprintf("organization %d", org), nil
	}))
}

const apiKeyColumns = "id, organization_id, name, prefix, created_at, disabled_at"

func scanAPIKey(row scanner) (*cmex.APIKey, error) {
	var k cmex.APIKey
	var at time.Time
	var disabled sql.NullTime
	if err := row.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Prefix, &at, &disabled); err != nil {
		return nil, err
	}
	k.CreatedAt = at.UTC()
	if disabled.Valid {
		k.Disabled, k.DisabledAt = true, disabled.Time.UTC()
	}
	return &k, nil
}

// ListAPIKeys implements cmex.APIKeyService.
func (s *APIKeyService) ListAPIKeys(ctx context.Context, org cmex.OrganizationID) ([]*cmex.APIKey, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE organization_id = ? ORDER BY name`, org)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []*cmex.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements cmex.APIKeyService.
func (s *APIKeyService) RevokeAPIKey(ctx context.Context, org cmex.OrganizationID, name string) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `DELETE FROM api_keys WHERE organization_id = ? AND name = ?`, org, name)
		if err != nil {
			return "", "", "", fmt.Errorf("revoke API key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "no API key named %s", name)
		}
		return "api-key.revoke", name, fmt.Sprintf("organization %d", org), nil
	})
}

// AuthenticateAPIKey implements cmex.APIKeyService.
func (s *APIKeyService) AuthenticateAPIKey(ctx context.Context, token string) (*cmex.Principal, error) {
	denied := cmex.Errorf(cmex.EUNAUTHORIZED, "invalid API key")
	prefix, secret, ok := strings.Cut(strings.TrimPrefix(token, tokenPrefix), "_")
	if !ok || !strings.HasPrefix(token, tokenPrefix) || len(prefix) != 8 || len(secret) != 64 {
		return nil, denied
	}
	var p cmex.Principal
	var hash, kind, name string
	var providerID *string
	var created time.Time
	err := s.db.read().queryRow(ctx, `SELECT k.hash, k.name, o.id, o.kind, o.provider_id, o.name, o.created_at
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.prefix = ? AND k.disabled_at IS NULL`, prefix).
		Scan(&hash, &name, &p.Organization.ID, &kind, &providerID, &p.Organization.Name, &created)
	if isNoRows(err) {
		return nil, denied
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate API key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(secretHash(secret)), []byte(hash)) != 1 {
		return nil, denied
	}
	p.Organization.Kind, p.Organization.CreatedAt = cmex.OrganizationKind(kind), created.UTC()
	if providerID != nil {
		p.Organization.ProviderID = cmex.ProviderID(*providerID)
	}
	p.User = cmex.WebServiceUser{OrganizationID: p.Organization.ID, Username: "apikey:" + name}
	return &p, nil
}
