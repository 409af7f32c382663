package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

const orderGrantColumns = "id, society_id, cidr, name, secret_hash, created_at"

func scanOrderGrant(row scanner) (*cmex.OrderGrant, error) {
	var g cmex.OrderGrant
	var created time.Time
	if err := row.Scan(&g.ID, &g.SocietyID, &g.From, &g.Name, &g.SecretHash, &created); err != nil {
		return nil, err
	}
	g.CreatedAt = created.UTC()
	return &g, nil
}

// localSociety returns society id when it is local, or says why not.
func (s *SocietyService) localSociety(ctx context.Context, id cmex.SocietyID) (*cmex.Society, error) {
	so, err := s.Society(ctx, id)
	if err != nil {
		return nil, err
	}
	if so.Kind != cmex.SocietyLocal {
		return nil, cmex.Errorf(cmex.EINVALID, "society %s is remote: its own servers answer its ceu_order", so.Code)
	}
	return so, nil
}

// AllowOrdersFrom implements cmex.SocietyService.
func (s *SocietyService) AllowOrdersFrom(ctx context.Context, society cmex.SocietyID, cidr string) (*cmex.OrderGrant, error) {
	cidr, err := cmex.NormalizeCIDR(cidr)
	if err != nil {
		return nil, err
	}
	so, err := s.localSociety(ctx, society)
	if err != nil {
		return nil, err
	}
	g := &cmex.OrderGrant{SocietyID: society, From: cidr, CreatedAt: s.db.now()}
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		have, err := scanOrderGrant(tx.queryRow(ctx, `SELECT `+orderGrantColumns+` FROM society_order_grants WHERE society_id = ? AND cidr = ?`, society, cidr))
		if err == nil {
			g = have
			return "", "", "", errUnchanged
		}
		if !isNoRows(err) {
			return "", "", "", fmt.Errorf("allow orders: %w", err)
		}
		if err := tx.queryRow(ctx, `INSERT INTO society_order_grants (society_id, cidr, created_at) VALUES (?, ?, ?) RETURNING id`,
			society, cidr, g.CreatedAt).Scan(&g.ID); err != nil {
			return "", "", "", fmt.Errorf("allow orders: %w", err)
		}
		return "society.order-grant", so.Code, "from " + cidr, nil
	})
	if err == errUnchanged {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// errUnchanged ends a change that has nothing to do, without an audit
// entry.
var errUnchanged = fmt.Errorf("unchanged")

// AddOrderCredential implements cmex.SocietyService.
func (s *SocietyService) AddOrderCredential(ctx context.Context, society cmex.SocietyID, name string) (*cmex.OrderGrant, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, ":\x00\r\n") {
		return nil, "", cmex.Errorf(cmex.EINVALID, "a credential's name is 1 to 100 characters without a colon: the gateway sends it as its HTTP Basic user name")
	}
	so, err := s.localSociety(ctx, society)
	if err != nil {
		return nil, "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	secret := "cmexgw_" + hex.EncodeToString(b[:])
	g := &cmex.OrderGrant{SocietyID: society, Name: name, SecretHash: secretHash(secret), CreatedAt: s.db.now()}
	err = s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx, `INSERT INTO society_order_grants (society_id, name, name_key, secret_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			society, name, usernameKey(name), g.SecretHash, g.CreatedAt).Scan(&g.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "society %s has a ceu_order credential named %s already", so.Code, name)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("add order credential: %w", err)
		}
		return "society.order-grant", so.Code, "credential " + name, nil
	})
	if err != nil {
		return nil, "", err
	}
	return g, secret, nil
}

// OrderGrants implements cmex.SocietyService.
func (s *SocietyService) OrderGrants(ctx context.Context, society cmex.SocietyID) ([]*cmex.OrderGrant, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+orderGrantColumns+` FROM society_order_grants WHERE society_id = ? ORDER BY id`, society)
	if err != nil {
		return nil, fmt.Errorf("order grants: %w", err)
	}
	defer rows.Close()
	var out []*cmex.OrderGrant
	for rows.Next() {
		g, err := scanOrderGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("order grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// RevokeOrderGrant implements cmex.SocietyService.
func (s *SocietyService) RevokeOrderGrant(ctx context.Context, society cmex.SocietyID, id int64) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		g, err := scanOrderGrant(tx.queryRow(ctx, `SELECT `+orderGrantColumns+` FROM society_order_grants WHERE society_id = ? AND id = ?`, society, id))
		if isNoRows(err) {
			return "", "", "", cmex.Errorf(cmex.ENOTFOUND, "the society has no ceu_order grant %d", id)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("revoke order grant: %w", err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM society_order_grants WHERE id = ?`, id); err != nil {
			return "", "", "", fmt.Errorf("revoke order grant: %w", err)
		}
		what := "from " + g.From
		if g.Name != "" {
			what = "credential " + g.Name
		}
		return "society.order-revoke", fmt.Sprint(society), what, nil
	})
}
