package sqlstore

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cmexhub/cmex"
)

// IssuerKeyService implements cmex.IssuerKeyService over issuer_keys. The
// private key (its 32-byte seed) is sealed with the server key, bound to
// its key id.
type IssuerKeyService struct{ db *DB }

var _ cmex.IssuerKeyService = (*IssuerKeyService)(nil)

// NewIssuerKeyService returns the issuer keys of db.
func NewIssuerKeyService(db *DB) *IssuerKeyService { return &IssuerKeyService{db: db} }

func issuerKeyAD(keyID string) string { return "issuer_key:" + keyID }

// CreateIssuerKey implements cmex.IssuerKeyService.
func (s *IssuerKeyService) CreateIssuerKey(ctx context.Context) (*cmex.IssuerKey, error) {
	if s.db.Secrets == nil {
		return nil, cmex.Errorf(cmex.EINVALID, "this server has no secret key to encrypt the issuer key with; set CMEX_SECRET_KEY")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var k *cmex.IssuerKey
	err = s.db.writeTurn(func() error {
		return s.db.inTx(ctx, func(tx conn) error {
			var n int64
			if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM issuer_keys`).Scan(&n); err != nil {
				return err
			}
			n++
			keyID := "key-" + strconv.FormatInt(n, 10)
			sealed, err := s.db.Secrets.Seal(priv.Seed(), issuerKeyAD(keyID))
			if err != nil {
				return err
			}
			now := s.db.now()
			if _, err := tx.exec(ctx, `INSERT INTO issuer_keys (id, key_id, public_key, private_key, created_at) VALUES (?, ?, ?, ?, ?)`,
				n, keyID, base64.StdEncoding.EncodeToString(pub), sealed, now); err != nil {
				if s.db.dialect.IsUniqueViolation(err) {
					return cmex.Errorf(cmex.ECONFLICT, "another key was created at the same moment; try again")
				}
				return err
			}
			k = &cmex.IssuerKey{ID: keyID, PublicKey: pub, CreatedAt: now}
			return s.db.appendAudit(ctx, tx, []auditRow{auditFrom(ctx, "cli", "issuer_key.create", keyID, "")})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create issuer key: %w", err)
	}
	return k, nil
}

type keyRow struct {
	key    cmex.IssuerKey
	sealed string
}

func (s *IssuerKeyService) rows(ctx context.Context, newest bool) ([]keyRow, error) {
	q := `SELECT key_id, public_key, private_key, created_at FROM issuer_keys ORDER BY id`
	if newest {
		q += ` DESC LIMIT 1`
	}
	rows, err := s.db.read().query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("issuer keys: %w", err)
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var r keyRow
		var pub string
		if err := rows.Scan(&r.key.ID, &pub, &r.sealed, &r.key.CreatedAt); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(pub)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("issuer key %s: a malformed public key", r.key.ID)
		}
		r.key.PublicKey = b
		out = append(out, r)
	}
	return out, rows.Err()
}

// IssuerKeys implements cmex.IssuerKeyService.
func (s *IssuerKeyService) IssuerKeys(ctx context.Context) ([]*cmex.IssuerKey, error) {
	rs, err := s.rows(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]*cmex.IssuerKey, len(rs))
	for i := range rs {
		out[i] = &rs[i].key
	}
	return out, nil
}

// SigningKey implements cmex.IssuerKeyService.
func (s *IssuerKeyService) SigningKey(ctx context.Context) (*cmex.IssuerKey, ed25519.PrivateKey, error) {
	rs, err := s.rows(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	if len(rs) == 0 {
		return nil, nil, cmex.Errorf(cmex.ENOTFOUND, "no issuer key: make one with cmex keys create")
	}
	if s.db.Secrets == nil {
		return nil, nil, cmex.Errorf(cmex.EUNAVAILABLE, "this server has no secret key to decrypt the issuer key with; set CMEX_SECRET_KEY")
	}
	seed, err := s.db.Secrets.Open(rs[0].sealed, issuerKeyAD(rs[0].key.ID))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, nil, cmex.Errorf(cmex.EUNAVAILABLE, "the issuer key cannot be decrypted with this server key")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !priv.Public().(ed25519.PublicKey).Equal(rs[0].key.PublicKey) {
		return nil, nil, errors.New("issuer key: the private key does not match the public key")
	}
	return &rs[0].key, priv, nil
}

// CredentialRecords implements cmex.CredentialRecords over the ledger.
type CredentialRecords struct{ db *DB }

var _ cmex.CredentialRecords = (*CredentialRecords)(nil)

// NewCredentialRecords returns the credential view of db's ledger.
func NewCredentialRecords(db *DB) *CredentialRecords { return &CredentialRecords{db: db} }

// CredentialRecord implements cmex.CredentialRecords.
func (s *CredentialRecords) CredentialRecord(ctx context.Context, id cmex.LearnerRecordID) (*cmex.CredentialRecord, error) {
	recs, err := scanRecords(s.db.read().query(ctx, `SELECT `+prefixed("r.", recordColumns)+` FROM learner_records r WHERE r.id = ? AND NOT r.deleted`, id))
	if err != nil {
		return nil, fmt.Errorf("credential record: %w", err)
	}
	if len(recs) == 0 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no learner record %d", id)
	}
	var doc, name string
	err = s.db.read().queryRow(ctx, `SELECT a.document, o.name FROM learner_records r JOIN activities a ON a.id = r.activity_id
		JOIN organizations o ON o.id = a.organization_id WHERE r.id = ?`, id).Scan(&doc, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no activity of learner record %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("credential record activity: %w", err)
	}
	a := new(cmex.Activity)
	if err := json.Unmarshal([]byte(doc), a); err != nil {
		return nil, fmt.Errorf("decode activity: %w", err)
	}
	return &cmex.CredentialRecord{Record: recs[0], Activity: a, ProviderName: name}, nil
}

// PersonCredentialRecords implements cmex.CredentialRecords.
func (s *CredentialRecords) PersonCredentialRecords(ctx context.Context, person cmex.PersonID) ([]*cmex.CredentialRecord, error) {
	recs, activities, err := personRecords(ctx, s.db, person, false)
	if err != nil {
		return nil, err
	}
	out := make([]*cmex.CredentialRecord, len(recs))
	for i, r := range recs {
		a := activities[r.ActivityID]
		out[i] = &cmex.CredentialRecord{Record: r, Activity: a.Activity, ProviderName: a.sponsor}
	}
	return out, nil
}

// RevokedRecords implements cmex.CredentialRecords.
func (s *CredentialRecords) RevokedRecords(ctx context.Context, from, to cmex.LearnerRecordID) ([]cmex.LearnerRecordID, error) {
	rows, err := s.db.read().query(ctx, `SELECT id FROM learner_records WHERE id BETWEEN ? AND ? AND (deleted OR status = ?) ORDER BY id`,
		from, to, string(cmex.StatusRejected))
	if err != nil {
		return nil, fmt.Errorf("revoked records: %w", err)
	}
	defer rows.Close()
	var out []cmex.LearnerRecordID
	for rows.Next() {
		var id cmex.LearnerRecordID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
