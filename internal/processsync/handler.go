// Package processsync serves LearningBuilder's Process Synchronization
// SOAP service, GetRoleData: a member-management system asks where a member
// stands in her credential role, authenticated by a secure token made with
// a shared key, and gets her profile, role instances, learning plans, task
// groups and activities, to the depth it asks for. README.md states the
// wire contract; guesses.go holds what the spec leaves open.
package processsync

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/soap"
)

// Path is where the service answers (CERTAIN), with its WSDL at Path?wsdl.
const Path = "/services/ProcessSynchronization.svc"

// NSTempuri is the namespace of the operation and its parameters (CERTAIN).
const NSTempuri = "http://tempuri.org/"

// Version is the only version of the specification served (CERTAIN).
const Version = "7.8.0"

// Success codes (CERTAIN).
const (
	successOK           = 0
	successBadToken     = 1
	successNotFound     = 2
	successRoleNotFound = 3
)

// DefaultWindow is how far a TimeStamp may be from the server's clock
// (the seed's usual TokenTimeout).
const DefaultWindow = 300 * time.Second

// DefaultMaxBody bounds a request: a GetRoleData is a few hundred bytes.
const DefaultMaxBody = 64 << 10

// Handler serves GetRoleData.
type Handler struct {
	Plans   cmex.PlanService
	Persons cmex.PersonService
	// Key is the shared secret of the tokens; an empty key refuses every
	// token.
	Key    string
	Window time.Duration
	// Nonces makes each token single-use within its window: a replayed
	// token is a bad token. Nil accepts a token as often as it comes.
	Nonces  cmex.NonceService
	Now     func() time.Time
	Logger  *slog.Logger
	MaxBody int64

	// built is the WSDL last built, by the extrinsic fields it was built
	// for: the only part of the plans it depends on. The plans in force
	// are read from the database at every request (wsdlFor, serve), so a
	// plan set loaded through any replica is what this one answers with
	// next; only the building is saved.
	built struct {
		sync.Mutex
		fields string
		doc    []byte
	}
}

// Register declares the service's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path, h.serve)
	mux.HandleFunc("GET "+Path, h.wsdl)
}

func (h *Handler) wsdl(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.URL.Query()["wsdl"]; !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "Process Synchronization service. POST a SOAP 1.1 GetRoleData request here; the WSDL is at %s?wsdl.\n", Path)
		return
	}
	doc, err := h.wsdlFor(r.Context())
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "processsync: WSDL", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		status := http.StatusInternalServerError
		if cmex.ErrorCode(err) == cmex.EBUSY {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		}
		w.WriteHeader(status)
		fmt.Fprintln(w, "The WSDL could not be made; try again later.")
		return
	}
	// The WSDL names this server as the service's address, as the client
	// reached it.
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var host strings.Builder
	_ = xml.EscapeText(&host, []byte(r.Host))
	doc = bytes.Replace(doc, []byte(wsdlAddress), []byte(scheme+"://"+host.String()+Path), 1)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(doc)
}

// wsdlFor returns the WSDL of the plans in force: built again only when
// the extrinsic fields they declare are not those of the last one built.
func (h *Handler) wsdlFor(ctx context.Context) ([]byte, error) {
	plans, err := h.Plans.CurrentPlans(ctx)
	switch {
	case cmex.ErrorCode(err) == cmex.ENOTFOUND:
		plans = &cmex.Plans{}
	case err != nil:
		return nil, err
	}
	role, plan := extrinsicFields(plans)
	key := strings.Join(role, " ") + "/" + strings.Join(plan, " ")
	h.built.Lock()
	defer h.built.Unlock()
	if h.built.doc == nil || h.built.fields != key {
		h.built.fields, h.built.doc = key, buildWSDL(role, plan)
	}
	return h.built.doc, nil
}

// request is a GetRoleData call.
type request struct {
	Version, TimeStamp, Role, UniqueID, RequestDepth, RequestType, Token string
}

// Depths, from least to most.
const (
	depthRole = iota
	depthLearningPlan
	depthTaskGroup
	depthActivity
)

// depth reads RequestDepth; blank or unknown is Role, the default.
func (q *request) depth() int {
	switch strings.ToLower(strings.TrimSpace(q.RequestDepth)) {
	case "learningplan":
		return depthLearningPlan
	case "taskgroup":
		return depthTaskGroup
	case "activity":
		return depthActivity
	}
	return depthRole
}

// detail reads RequestType; blank or invalid is Summary (CERTAIN).
func (q *request) detail() bool { return strings.EqualFold(strings.TrimSpace(q.RequestType), "Detail") }

func decodeRequest(data []byte) (*request, error) {
	op, err := soap.ReadBody(data, soap.DefaultLimits)
	if err != nil {
		return nil, err
	}
	if op.Name.Local != "GetRoleData" || op.Name.Space != NSTempuri {
		return nil, fmt.Errorf("%w: the operation is {%s}%s; this service has GetRoleData in %s", soap.ErrMalformed, op.Name.Space, op.Name.Local, NSTempuri)
	}
	field := func(name string) string {
		if c := op.Child(name, NSTempuri, ""); c != nil {
			return c.Text
		}
		return ""
	}
	return &request{Version: field("Version"), TimeStamp: field("TimeStamp"), Role: field("Role"), UniqueID: field("UniqueId"),
		RequestDepth: field("RequestDepth"), RequestType: field("RequestType"), Token: field("Token")}, nil
}

func (h *Handler) fault(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_ = soap.WriteFault(w, code, msg)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.fault(w, http.StatusRequestEntityTooLarge, soap.FaultClient, fmt.Sprintf("The request is larger than %d bytes.", h.MaxBody))
			return
		}
		h.fault(w, http.StatusBadRequest, soap.FaultClient, "The request could not be read.")
		return
	}
	q, err := decodeRequest(data)
	if err != nil {
		// ErrMalformed messages describe the request, never the server.
		// SOAP 1.1 sends faults with HTTP 500; a fault caused by the
		// request gets 400, as WCF answers a message it cannot read.
		h.fault(w, http.StatusBadRequest, soap.FaultClient, err.Error())
		return
	}
	if strings.TrimSpace(q.Version) != Version {
		h.fault(w, http.StatusBadRequest, soap.FaultClient, versionFault)
		return
	}
	res, err := h.roleData(r, q)
	if cmex.ErrorCode(err) == cmex.EBUSY {
		// The database is unreachable for now: the same request may be
		// answered once it is back, which a 503 with Retry-After says.
		h.Logger.WarnContext(r.Context(), "processsync: GetRoleData: temporary failure", "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		h.fault(w, http.StatusServiceUnavailable, soap.FaultServer, cmex.ErrorMessage(err))
		return
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "processsync: GetRoleData", "err", err)
		h.fault(w, http.StatusInternalServerError, soap.FaultServer, "The service could not answer; try again later.")
		return
	}
	var b bytes.Buffer
	writeResult(&b, res)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// result is what GetRoleData answers, before encoding.
type result struct {
	success int
	person  *cmex.Person
	roles   []cmex.RoleProgress
	depth   int
	view    cmex.View
}

func (h *Handler) roleData(r *http.Request, q *request) (*result, error) {
	ctx := r.Context()
	now := h.Now()
	res := &result{depth: q.depth()}
	if !checkToken(q.UniqueID, q.TimeStamp, q.Token, h.Key, now, h.Window) {
		res.success = successBadToken
		return res, nil
	}
	if h.Nonces != nil {
		// A token names its UniqueId and TimeStamp; it is acceptable until
		// TimeStamp + Window, and remembered that long.
		ts, _ := strconv.ParseInt(strings.TrimSpace(q.TimeStamp), 10, 64)
		err := h.Nonces.UseNonce(ctx, "processsync:"+strings.ToLower(strings.TrimSpace(q.Token)), time.Unix(ts, 0).Add(h.Window))
		if cmex.ErrorCode(err) == cmex.ECONFLICT {
			res.success = successBadToken
			return res, nil
		}
		if err != nil {
			return nil, err
		}
	}
	ids, err := h.Plans.PersonsByIdentifier(ctx, q.UniqueID)
	if err != nil {
		return nil, err
	}
	// An identifier that names several persons names the one holding the
	// role asked for, if only one does.
	var person cmex.PersonID
	var instancesOf []cmex.PersonID
	for _, id := range ids {
		ris, err := h.Plans.RoleInstances(ctx, id)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(ris, func(ri *cmex.RoleInstance) bool { return strings.EqualFold(ri.Role, strings.TrimSpace(q.Role)) }) {
			instancesOf = append(instancesOf, id)
		}
	}
	switch {
	case len(instancesOf) == 1:
		person = instancesOf[0]
	case len(ids) == 1:
		person = ids[0]
	default:
		res.success = successNotFound
		return res, nil
	}
	if res.person, err = h.Persons.Person(ctx, person); err != nil {
		return nil, err
	}
	if res.roles, err = cmex.ProgressOf(ctx, h.Plans, person, q.Role, cmex.DateOf(now)); err != nil {
		return nil, err
	}
	if len(res.roles) == 0 || strings.TrimSpace(q.Role) == "" {
		res.success, res.roles = successRoleNotFound, nil
		return res, nil
	}
	plans, err := h.Plans.CurrentPlans(ctx)
	switch {
	case cmex.ErrorCode(err) == cmex.ENOTFOUND:
		plans = &cmex.Plans{Views: cmex.DefaultViews()}
	case err != nil:
		return nil, err
	}
	res.view = plans.Views.Summary
	if q.detail() {
		res.view = plans.Views.Detail
	}
	return res, nil
}
