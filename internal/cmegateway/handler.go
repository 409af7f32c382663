package cmegateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// DefaultMaxBody bounds a form post: three short fields.
const DefaultMaxBody = 64 << 10

// Handler serves the society side of the protocol for the local societies
// (customer_binding, ceu_order) and the gateway's credit feed.
type Handler struct {
	Societies cmex.SocietyService
	Gateway   *Gateway
	// DefaultSociety is the code of the society /cmegateway/customer_binding
	// and /cmegateway/ceu_order answer for; "" means the only local one.
	// /cmegateway/{code}/… answer for any local society.
	DefaultSociety string
	// OpenOrders lets anyone call every local society's ceu_order, as in
	// the sandbox. Otherwise a society answers only the gateways its
	// operator allowed (cmex.OrderGrant), and no one until then.
	OpenOrders bool
	Logger     *slog.Logger
	Now        func() time.Time
	MaxBody    int64
}

// Register declares the routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	// The seed's diagram has gateways call customer_binding "via HTTP GET"
	// and its table says POST: both are answered, a GET's fields read from
	// the query string.
	mux.HandleFunc("POST /cmegateway/customer_binding", h.binding)
	mux.HandleFunc("POST /cmegateway/{society}/customer_binding", h.binding)
	mux.HandleFunc("GET /cmegateway/customer_binding", h.binding)
	mux.HandleFunc("GET /cmegateway/{society}/customer_binding", h.binding)
	mux.HandleFunc("POST /cmegateway/ceu_order", h.order)
	mux.HandleFunc("POST /cmegateway/{society}/ceu_order", h.order)
	mux.HandleFunc("GET /cmegateway/credit_feed", h.feed)
}

func (h *Handler) today() cmex.Date { return cmex.DateOf(h.Now()) }

// society finds the local society a request is for, or says why not.
func (h *Handler) society(r *http.Request) (*cmex.Society, int, string) {
	code := r.PathValue("society")
	if code == "" {
		code = h.DefaultSociety
	}
	if code == "" {
		local, err := h.Societies.ListSocieties(r.Context(), cmex.SocietyFilter{Kind: cmex.SocietyLocal})
		if err != nil {
			h.Logger.ErrorContext(r.Context(), "cmegateway: list societies", "err", err)
			return nil, http.StatusServiceUnavailable, "The service is unavailable; try again later."
		}
		if len(local) != 1 {
			return nil, http.StatusNotFound, "Several societies are served here (or none): use /cmegateway/{society}/customer_binding and /cmegateway/{society}/ceu_order."
		}
		return local[0], 0, ""
	}
	s, err := h.Societies.SocietyByCode(r.Context(), code)
	switch {
	case cmex.ErrorCode(err) == cmex.ENOTFOUND || err == nil && s.Kind != cmex.SocietyLocal:
		return nil, http.StatusNotFound, fmt.Sprintf("No society %s is served here.", cmex.NormalizeSocietyCode(code))
	case err != nil:
		h.Logger.ErrorContext(r.Context(), "cmegateway: find society", "err", err)
		return nil, http.StatusServiceUnavailable, "The service is unavailable; try again later."
	}
	return s, 0, ""
}

// target finds the local society a request is for and reads its
// size-limited form (whose fields may also come in the query string, as
// the seed's example writes them). When either fails it returns the HTTP
// status and the message to answer with, and the society if it was found.
func (h *Handler) target(w http.ResponseWriter, r *http.Request) (*cmex.Society, int, string) {
	s, status, msg := h.society(r)
	if s == nil {
		return nil, status, msg
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.MaxBody)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return s, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request is larger than %d bytes.", h.MaxBody)
		}
		return s, http.StatusBadRequest, "The request is not a readable form post (application/x-www-form-urlencoded)."
	}
	return s, 0, ""
}

func (h *Handler) binding(w http.ResponseWriter, r *http.Request) {
	resp := &BindingResponse{Date: h.today()}
	s, status, msg := h.target(w, r)
	if s != nil {
		resp.Source = s.Code
	}
	if status != 0 {
		resp.Status = msg
		h.write(w, r, status, resp)
		return
	}
	// The seed's parameter table misspells the password field; its example
	// spells it right. Both are accepted.
	username := strings.TrimSpace(r.Form.Get("customer_username_crypt"))
	password := r.Form.Get("customer_password_crypt")
	if password == "" {
		password = r.Form.Get("cusomter_password_crypt")
	}
	method := strings.TrimSpace(r.Form.Get("customer_binding_crypt_method"))
	resp.CryptMethod, resp.Username = method, username
	switch {
	case username == "" || password == "":
		resp.Status = "Send customer_username_crypt, customer_password_crypt and customer_binding_crypt_method."
	case method == "":
		resp.Status = "Send customer_binding_crypt_method=plaintext."
	case !strings.EqualFold(method, "plaintext"):
		resp.Status = fmt.Sprintf("The crypt method %s is not supported: only plaintext is (md5, sha-1 and sha-256 are reserved).", societyMessage(method))
	default:
		m, err := h.Societies.AuthenticateMember(r.Context(), s.ID, username, password)
		switch {
		case err == nil:
			resp.Status, resp.MemberID, resp.Username = statusOK, m.MemberID, m.Username
		case cmex.ErrorCode(err) == cmex.EUNAUTHORIZED:
			resp.Status = bindingRefused(s)
		case cmex.ErrorCode(err) == cmex.ETOOMANY:
			resp.Status = cmex.ErrorMessage(err)
			retryAfter(w, err)
			h.write(w, r, http.StatusTooManyRequests, resp)
			return
		case cmex.ErrorCode(err) == cmex.EBUSY:
			resp.Status = cmex.ErrorMessage(err)
			retryAfter(w, err)
			h.write(w, r, http.StatusServiceUnavailable, resp)
			return
		default:
			h.Logger.ErrorContext(r.Context(), "cmegateway: customer_binding", "society", s.Code, "err", err)
			resp.Status = "The service is unavailable; try again later."
			h.write(w, r, http.StatusServiceUnavailable, resp)
			return
		}
	}
	h.write(w, r, http.StatusOK, resp)
}

func (h *Handler) order(w http.ResponseWriter, r *http.Request) {
	resp := &OrderResponse{Date: h.today()}
	s, status, msg := h.target(w, r)
	if s != nil {
		resp.Source = s.Code
	}
	if status != 0 {
		resp.Status = msg
		h.write(w, r, status, resp)
		return
	}
	switch ok, err := h.orderAllowed(r, s); {
	case err != nil:
		h.Logger.ErrorContext(r.Context(), "cmegateway: ceu_order grants", "society", s.Code, "err", err)
		resp.Status = "The service is unavailable; try again later."
		h.write(w, r, http.StatusServiceUnavailable, resp)
		return
	case !ok:
		resp.Status = orderNotAllowed(s)
		h.write(w, r, statusOrderNotAllowed, resp)
		return
	}
	id := strings.TrimSpace(r.Form.Get("customer_id"))
	if id == "" {
		resp.Status = "Send customer_id, the member id customer_binding returned."
		h.write(w, r, http.StatusOK, resp)
		return
	}
	c, err := h.Societies.MemberCredits(r.Context(), s.ID, id)
	switch {
	case err == nil:
		resp.Status, resp.Customer = statusOK, c
	case cmex.ErrorCode(err) == cmex.ENOTFOUND:
		resp.Status = bindingRefused(s)
	default:
		h.Logger.ErrorContext(r.Context(), "cmegateway: ceu_order", "society", s.Code, "err", err)
		resp.Status = "The service is unavailable; try again later."
		h.write(w, r, http.StatusServiceUnavailable, resp)
		return
	}
	h.write(w, r, http.StatusOK, resp)
}

// orderAllowed reports whether the caller of r is one of the gateways s
// lets call its ceu_order: from an address range it allows, or with one
// of its credentials (HTTP Basic). The address is the client's after
// trusted proxies, as the server's middleware found it.
func (h *Handler) orderAllowed(r *http.Request, s *cmex.Society) (bool, error) {
	if h.OpenOrders {
		return true, nil
	}
	grants, err := h.Societies.OrderGrants(r.Context(), s.ID)
	if err != nil {
		return false, err
	}
	addr := cmex.ClientAddr(r.Context())
	if addr == "" {
		addr = r.RemoteAddr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	user, password, _ := r.BasicAuth()
	for _, g := range grants {
		if g.Admits(addr, user, password) {
			return true, nil
		}
	}
	return false, nil
}

// feed serves the credit feed. Its credentials travel in the query string
// by the protocol's design; the access log never records the query.
func (h *Handler) feed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	resp := &OrderResponse{Source: h.Gateway.Source, Date: h.today()}
	c, err := h.Gateway.Feed(r.Context(), q.Get("username"), q.Get("password"), strings.TrimSpace(q.Get("customer")))
	var fe *feedError
	switch {
	case err == nil:
		resp.Status, resp.Customer = statusOK, c
	case errors.As(err, &fe):
		resp.Status, resp.StatusMessage = fe.code, fe.msg
	case cmex.ErrorCode(err) == cmex.ETOOMANY:
		// Still the seed's INVALID_LOGIN, which feed clients know, with
		// the lockout's own message.
		resp.Status, resp.StatusMessage = feedInvalidLogin, cmex.ErrorMessage(err)
		retryAfter(w, err)
		h.write(w, r, http.StatusTooManyRequests, resp)
		return
	case cmex.ErrorCode(err) == cmex.EBUSY:
		resp.Status = cmex.ErrorMessage(err)
		retryAfter(w, err)
		h.write(w, r, http.StatusServiceUnavailable, resp)
		return
	default:
		if !errors.Is(err, context.Canceled) {
			h.Logger.ErrorContext(r.Context(), "cmegateway: credit feed", "err", err)
		}
		resp.Status = "The service is unavailable; try again later."
		h.write(w, r, http.StatusServiceUnavailable, resp)
		return
	}
	h.write(w, r, http.StatusOK, resp)
}

// write answers with a binding or order document, encoded in full first so
// that an encoding failure is a clean error rather than half a document.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, status int, doc any) {
	var b bytes.Buffer
	var err error
	switch d := doc.(type) {
	case *BindingResponse:
		err = WriteBinding(&b, d)
	case *OrderResponse:
		err = WriteOrder(&b, d)
	default:
		err = fmt.Errorf("cannot write a %T", doc)
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "cmegateway: encode", "err", err)
		http.Error(w, "The answer could not be written.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// retryAfter sets Retry-After from a refused sign-in.
func retryAfter(w http.ResponseWriter, err error) {
	if secs := cmex.RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
}
