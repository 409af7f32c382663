package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// OrganizationService implements cmex.OrganizationService.
type OrganizationService struct{ db *DB }

var _ cmex.OrganizationService = (*OrganizationService)(nil)

// NewOrganizationService returns the organization service of db.
func NewOrganizationService(db *DB) *OrganizationService { return &OrganizationService{db: db} }

// CreateOrganization implements cmex.OrganizationService.
func (s *OrganizationService) CreateOrganization(ctx context.Context, o *cmex.Organization) error {
	o.Name = strings.TrimSpace(o.Name)
	switch {
	case o.Name == "":
		return cmex.Errorf(cmex.EINVALID, "an organization needs a name")
	case len(o.Name) > 255:
		return cmex.Errorf(cmex.EINVALID, "an organization's name is at most 255 characters")
	case o.Kind == "":
		o.Kind = cmex.OrgProvider
	}
	if o.Kind == cmex.OrgProvider {
		id, err := cmex.ParseProviderID(string(o.ProviderID))
		if err != nil {
			return cmex.Errorf(cmex.EINVALID, "%v", err)
		}
		o.ProviderID = id
	}
	o.CreatedAt = s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx,
			`INSERT INTO organizations (kind, provider_id, name, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			string(o.Kind), nullString(string(o.ProviderID)), o.Name, o.CreatedAt).Scan(&o.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "provider %s already exists", o.ProviderID)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("create organization: %w", err)
		}
		return "organization.add", string(o.ProviderID), fmt.Sprintf("organization %d, %s", o.ID, o.Name), nil
	})
}

// FindOrganizationByProviderID implements cmex.OrganizationService.
func (s *OrganizationService) FindOrganizationByProviderID(ctx context.Context, id cmex.ProviderID) (*cmex.Organization, error) {
	o, err := scanOrganization(s.db.read().queryRow(ctx,
		`SELECT id, kind, provider_id, name, created_at FROM organizations WHERE provider_id = ?`, string(id)))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("provider %s not found", id))
	}
	return o, nil
}

// ListOrganizations implements cmex.OrganizationService.
func (s *OrganizationService) ListOrganizations(ctx context.Context) ([]*cmex.Organization, error) {
	rows, err := s.db.read().query(ctx,
		`SELECT id, kind, provider_id, name, created_at FROM organizations ORDER BY kind, length(provider_id), provider_id, id`)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Organization
	for rows.Next() {
		o, err := scanOrganization(rows)
		if err != nil {
			return nil, fmt.Errorf("list organizations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanOrganization(row scanner) (*cmex.Organization, error) {
	var o cmex.Organization
	var kind string
	var provider *string
	var created time.Time
	if err := row.Scan(&o.ID, &kind, &provider, &o.Name, &created); err != nil {
		return nil, err
	}
	o.Kind = cmex.OrganizationKind(kind)
	if provider != nil {
		o.ProviderID = cmex.ProviderID(*provider)
	}
	o.CreatedAt = created.UTC()
	return &o, nil
}

// nullString stores "" as NULL, so optional unique columns do not collide.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
