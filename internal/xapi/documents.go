package xapi

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The document resources.
const (
	kindState    = "state"
	kindActivity = "activity"
	kindAgent    = "agent"
)

// docParams are each kind's parameters: the document id's name and
// whether it takes an activity, an agent, a registration.
var docParams = map[string]struct {
	idName                       string
	activity, agent, registraton bool
}{
	kindState:    {"stateId", true, true, true},
	kindActivity: {"profileId", true, false, false},
	kindAgent:    {"profileId", false, true, false},
}

// docKey reads a document request's key; needID requires the id.
func (req *request) docKey(kind string, needID bool, extra ...string) (cmex.XAPIDocumentKey, error) {
	p := docParams[kind]
	k := cmex.XAPIDocumentKey{Organization: req.principal.Organization.ID, Kind: kind}
	allowed := append([]string{p.idName}, extra...)
	if p.activity {
		allowed = append(allowed, "activityId")
		a, ok := req.query["activityId"]
		if !ok {
			return k, badRequest("activityId is required")
		}
		if !isIRI(a) {
			return k, badRequest("activityId must be an IRI")
		}
		k.ActivityID = a
	}
	if p.agent {
		allowed = append(allowed, "agent")
		a, ok := req.query["agent"]
		if !ok {
			return k, badRequest("agent is required")
		}
		m, err := agentParam(a)
		if err != nil {
			return k, err
		}
		k.Agent = AgentKey(m)
	}
	if p.registraton {
		allowed = append(allowed, "registration")
		if r, ok := req.query["registration"]; ok {
			if !isUUID(r) {
				return k, badRequest("registration must be a UUID")
			}
			k.Registration = strings.ToLower(r)
		}
	}
	if err := req.allowOnly(allowed...); err != nil {
		return k, err
	}
	id, ok := req.query[p.idName]
	if needID && !ok {
		return k, badRequest("%s is required", p.idName)
	}
	k.ID = id
	return k, nil
}

// etagHeader reads If-Match (its quotes removed) and If-None-Match: *.
func etagHeader(r *http.Request) (ifMatch string, ifNoneMatch bool) {
	ifMatch = strings.Trim(strings.TrimSpace(r.Header.Get("If-Match")), `"`)
	ifNoneMatch = strings.TrimSpace(r.Header.Get("If-None-Match")) == "*"
	return ifMatch, ifNoneMatch
}

func (h *Handler) getDoc(kind string) func(*request) error {
	return func(req *request) error {
		_, hasID := req.query[docParams[kind].idName]
		k, err := req.docKey(kind, false, "since")
		if err != nil {
			return err
		}
		if !hasID {
			var since time.Time
			if s, ok := req.query["since"]; ok {
				if since, err = timeParam(s); err != nil {
					return err
				}
			}
			ids, err := h.Store.DocumentIDs(req.r.Context(), k, since)
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []string{}
			}
			writeJSON(req.w, http.StatusOK, ids)
			return nil
		}
		if _, ok := req.query["since"]; ok {
			return badRequest("since lists documents; it does not go with %s", docParams[kind].idName)
		}
		d, err := h.Store.Document(req.r.Context(), k)
		if err != nil {
			return err
		}
		ct := d.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		req.w.Header().Set("Content-Type", ct)
		req.w.Header().Set("ETag", `"`+d.ETag+`"`)
		req.w.Header().Set("Last-Modified", d.Updated.UTC().Format(http.TimeFormat))
		req.w.WriteHeader(http.StatusOK)
		_, _ = req.w.Write(d.Content)
		return nil
	}
}

func isJSONType(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json"
}

func jsonObject(b []byte) (map[string]any, bool) {
	x, err := decodeJSON(b)
	if err != nil {
		return nil, false
	}
	m, ok := x.(map[string]any)
	return m, ok
}

// putDoc stores a document (PUT) or merges a JSON object into it (POST).
func (h *Handler) putDoc(kind string, merge bool) func(*request) error {
	return func(req *request) error {
		k, err := req.docKey(kind, true)
		if err != nil {
			return err
		}
		body, err := h.body(req)
		if err != nil {
			return err
		}
		ct := req.r.Header.Get("Content-Type")
		ifMatch, ifNoneMatch := etagHeader(req.r)
		ctx := req.r.Context()
		if isJSONType(ct) {
			if _, err := decodeJSON(body); err != nil {
				return badRequest("the document is not JSON")
			}
		}
		old, err := h.Store.Document(ctx, k)
		if err != nil && cmex.ErrorCode(err) != cmex.ENOTFOUND {
			return err
		}
		if (kind != kindState || req.version == "2.0.0") && !merge && ifMatch == "" && !ifNoneMatch {
			if old != nil {
				return cmex.Errorf(cmex.ECONFLICT, "the document exists: send If-Match with its ETag, or If-None-Match: *")
			}
			if kind != kindState && req.version == "1.0.3" {
				// 1.0.3's conformance suite refuses a profile's PUT without
				// either header even when none is stored; 2.0.0's accepts it.
				return badRequest("send If-Match with the document's ETag, or If-None-Match: *")
			}
		}
		d := &cmex.XAPIDocument{Key: k, Content: body, ContentType: ct}
		if merge && old != nil {
			oldObj, ok1 := jsonObject(old.Content)
			newObj, ok2 := jsonObject(body)
			if !isJSONType(old.ContentType) || !isJSONType(ct) || !ok1 || !ok2 {
				return badRequest("POST merges JSON objects: the stored document and this one must both be application/json objects")
			}
			for key, v := range newObj {
				oldObj[key] = v
			}
			if d.Content, err = json.Marshal(oldObj); err != nil {
				return err
			}
			d.ContentType = "application/json"
			if ifMatch == "" && !ifNoneMatch {
				// The merge is of what was read: another writer in
				// between makes this a conflict, not a lost update.
				ifMatch = old.ETag
			}
		} else if merge && isJSONType(ct) {
			if _, ok := jsonObject(body); !ok {
				return badRequest("POST merges JSON objects: this document is not one")
			}
		}
		if err := h.Store.PutDocument(ctx, d, ifMatch, ifNoneMatch); err != nil {
			if cmex.ErrorCode(err) == cmex.ECONFLICT && (req.r.Header.Get("If-Match") != "" || ifNoneMatch) {
				return preconditionFailed{err}
			}
			return err
		}
		req.w.Header().Set("ETag", `"`+d.ETag+`"`)
		req.w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (h *Handler) deleteDoc(kind string) func(*request) error {
	return func(req *request) error {
		k, err := req.docKey(kind, kind != kindState)
		if err != nil {
			return err
		}
		ifMatch, _ := etagHeader(req.r)
		if err := h.Store.DeleteDocuments(req.r.Context(), k, ifMatch); err != nil {
			if cmex.ErrorCode(err) == cmex.ECONFLICT {
				return preconditionFailed{err}
			}
			return err
		}
		req.w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// getActivity answers the Activities resource: the activity with the last
// definition a statement gave it.
func (h *Handler) getActivity(req *request) error {
	if err := req.allowOnly("activityId"); err != nil {
		return err
	}
	id, ok := req.query["activityId"]
	if !ok || !isIRI(id) {
		return badRequest("activityId is required and must be an IRI")
	}
	out := map[string]any{"objectType": "Activity", "id": id}
	def, err := h.Store.ActivityDefinition(req.r.Context(), req.principal.Organization.ID, id)
	if err != nil {
		return err
	}
	if def != nil {
		var d any
		if err := json.Unmarshal(def, &d); err == nil {
			out["definition"] = d
		}
	}
	writeJSON(req.w, http.StatusOK, out)
	return nil
}

// getAgents answers the Agents resource with the Person object of the
// agent asked about: this store knows no other identifiers of a person.
func (h *Handler) getAgents(req *request) error {
	if err := req.allowOnly("agent"); err != nil {
		return err
	}
	a, ok := req.query["agent"]
	if !ok {
		return badRequest("agent is required")
	}
	m, err := agentParam(a)
	if err != nil {
		return err
	}
	if m["objectType"] == "Group" {
		return badRequest("agent must be an Agent")
	}
	p := map[string]any{"objectType": "Person"}
	for _, k := range []string{"name", "mbox", "mbox_sha1sum", "openid", "account"} {
		if v, ok := m[k]; ok {
			p[k] = []any{v}
		}
	}
	writeJSON(req.w, http.StatusOK, p)
	return nil
}
