package cmex

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
)

// XAPIStatement is an xAPI statement as the learning record store keeps
// it: the statement's JSON as stored (with the stored timestamp and the
// authority the store set), and the values queries select it by, which
// package xapi derives from the statement before it is saved.
type XAPIStatement struct {
	Organization OrganizationID
	// ID is the statement's id, a lowercase UUID.
	ID string
	// JSON is the statement as stored, with stored, authority and version set.
	JSON []byte
	// Signature identifies the statement by the spec's equivalence rules
	// (a hash of its canonical form without what the store sets): two
	// statements under one id with the same signature are the same one.
	Signature string
	// Stored is when the store accepted it, set by the caller in JSON too.
	Stored time.Time
	Verb   string
	// Voids is the id of the statement this one voids, or "".
	Voids string
	// ObjectRef is the id of the statement its object refers to (a
	// StatementRef), or "": a query's filters select a statement by its
	// target's values too.
	ObjectRef    string
	Registration string
	// Agents are the keys (see package xapi) of the actor and of an agent
	// or group as object; RelatedAgents add every other agent it names.
	Agents, RelatedAgents []string
	// Activities is the object's activity id; RelatedActivities add the
	// context's and a sub-statement's.
	Activities, RelatedActivities []string
	// Definitions are the activity definitions it carries, by activity id,
	// as JSON, for the Activities resource: SaveStatements merges each
	// into the activity's stored one (MergeXAPIDefinition).
	Definitions map[string][]byte
	// Attachments are the statement's attachment contents, by SHA-256.
	Attachments []XAPIAttachment
	// Voided is whether a voiding statement voids it (read only).
	Voided bool
	// Seq orders statements by when they were stored (read only).
	Seq int64
}

// XAPIAttachment is the content of an attachment, named by its SHA-2 hash.
type XAPIAttachment struct {
	SHA2        string
	ContentType string
	Content     []byte
}

// XAPIStatementQuery selects statements. Zero fields select everything.
type XAPIStatementQuery struct {
	Organization OrganizationID
	Agent        string
	// RelatedAgents matches Agent anywhere in the statement.
	RelatedAgents bool
	Verb          string
	Activity      string
	// RelatedActivities matches Activity anywhere in the statement.
	RelatedActivities bool
	Registration      string
	// Since and Until bound Stored (since exclusive, until inclusive).
	Since, Until time.Time
	// Limit is at most this many; 0 is the store's maximum.
	Limit     int
	Ascending bool
	// After continues a query after the statement of this Seq (paging).
	After int64
	// Voided selects the voided statements too (an export), which the
	// Statement resource's queries leave out. Never in a more token.
	Voided bool `json:"-"`
}

// XAPIDocument is a document of the State, Activity Profile or Agent
// Profile resource, named by its Key.
type XAPIDocument struct {
	Key         XAPIDocumentKey
	Content     []byte
	ContentType string
	// ETag is the hex SHA-1 of Content, as the spec's concurrency asks.
	ETag    string
	Updated time.Time
}

// XAPIDocumentKey names a document: Kind is "state", "activity" or
// "agent"; the fields a kind does not use are "".
type XAPIDocumentKey struct {
	Organization OrganizationID
	Kind         string
	ActivityID   string
	Agent        string
	Registration string
	ID           string
}

// XAPIService keeps a learning record store's statements and documents.
type XAPIService interface {
	// SaveStatements stores sts in one transaction, in their order
	// of storage, setting the Seq of each it stores, and merges their
	// activity definitions into the stored ones. A statement whose id
	// is stored with the same Signature is skipped (its Seq left 0); with
	// another, the whole batch is ECONFLICT. A voiding statement marks its target voided; voiding a
	// voiding statement is EINVALID.
	SaveStatements(ctx context.Context, sts []*XAPIStatement) error
	// Statement returns a statement by id, voided or not, or ENOTFOUND.
	Statement(ctx context.Context, org OrganizationID, id string) (*XAPIStatement, error)
	// Statements returns the statements q selects, voided ones left out
	// unless q.Voided (q's agent, verb, activity and registration match a statement or
	// the one its StatementRef object refers to),
	// newest stored first unless q.Ascending, and whether more follow.
	Statements(ctx context.Context, q XAPIStatementQuery) ([]*XAPIStatement, bool, error)
	// Attachments returns the attachment contents of the given hashes
	// that the organization's statements carry.
	Attachments(ctx context.Context, org OrganizationID, sha2 []string) ([]XAPIAttachment, error)
	// ActivityDefinition returns the last definition stored for an
	// activity id, or nil.
	ActivityDefinition(ctx context.Context, org OrganizationID, activityID string) ([]byte, error)

	// Document returns a document, or ENOTFOUND.
	Document(ctx context.Context, k XAPIDocumentKey) (*XAPIDocument, error)
	// DocumentIDs lists the ids of the documents whose keys equal k but
	// for ID, updated after since when it is not zero.
	DocumentIDs(ctx context.Context, k XAPIDocumentKey, since time.Time) ([]string, error)
	// PutDocument stores d (setting ETag and Updated) if the condition
	// holds: ifMatch, when not "", is the ETag the stored one must have;
	// ifNoneMatch requires that none is stored. A failed condition is
	// ECONFLICT.
	PutDocument(ctx context.Context, d *XAPIDocument, ifMatch string, ifNoneMatch bool) error
	// DeleteDocuments deletes the document k names or, with k.ID "", all
	// those whose keys equal k but for ID, under the same condition as
	// PutDocument's ifMatch.
	DeleteDocuments(ctx context.Context, k XAPIDocumentKey, ifMatch string) error
}

// MergeXAPIDefinition merges an activity definition a statement carries
// into the activity's stored one (nil if none): the language maps (name,
// description) key by key, the rest replaced.
func MergeXAPIDefinition(old, def []byte) []byte {
	if old == nil || bytes.Equal(old, def) {
		return def
	}
	var o, n map[string]any
	if json.Unmarshal(old, &o) != nil || json.Unmarshal(def, &n) != nil || o == nil {
		return def
	}
	for k, v := range n {
		om, ok1 := o[k].(map[string]any)
		nm, ok2 := v.(map[string]any)
		if (k == "name" || k == "description") && ok1 && ok2 {
			for lk, lv := range nm {
				om[lk] = lv
			}
			continue
		}
		o[k] = v
	}
	b, err := json.Marshal(o)
	if err != nil {
		return def
	}
	return b
}
