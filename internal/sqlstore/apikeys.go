package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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

// CreateAPIKey implements cmex.APIKeyService.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, org cmex.OrganizationID, name string) (*cmex.APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", cmex.Errorf(cmex.EINVALID, "an API key needs a name of at most 100 characters")
	}
	var p, sec [32]byte
	if _, err := rand.Read(p[:4]); err != nil {
		return nil, "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return nil, "", err
	}
	prefix, secret := hex.EncodeToString(p[:4]), hex.EncodeToString(sec[:])
	k := &cmex.APIKey{OrganizationID: org, Name: name, Prefix: prefix, CreatedAt: s.db.now()}
	err := s.db.change(ctx, func(tx conn) (string, string, string, error) {
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

// ListAPIKeys implements cmex.APIKeyService.
func (s *APIKeyService) ListAPIKeys(ctx context.Context, org cmex.OrganizationID) ([]*cmex.APIKey, error) {
	rows, err := s.db.read().query(ctx, `SELECT id, organization_id, name, prefix, created_at FROM api_keys WHERE organization_id = ? ORDER BY name`, org)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []*cmex.APIKey
	for rows.Next() {
		var k cmex.APIKey
		var at time.Time
		if err := rows.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.Prefix, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = at.UTC()
		out = append(out, &k)
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
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.prefix = ?`, prefix).
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
