package api

import (
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// societyJSON is what anyone may know of a society: enough to choose it
// when binding.
type societyJSON struct {
	Code string           `json:"code"`
	Name string           `json:"name"`
	Kind cmex.SocietyKind `json:"kind"`
}

func (h *Handler) listSocieties(w http.ResponseWriter, r *http.Request, _ *caller) {
	list, err := h.Societies.ListSocieties(r.Context(), cmex.SocietyFilter{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []societyJSON{}
	for _, s := range list {
		out = append(out, societyJSON{Code: s.Code, Name: s.Name, Kind: s.Kind})
	}
	h.json(w, http.StatusOK, map[string]any{"societies": out})
}

// societyRequest adds a society the gateway knows.
type societyRequest struct {
	Code       string           `json:"code"`
	Name       string           `json:"name"`
	Kind       cmex.SocietyKind `json:"kind"`
	BindingURL string           `json:"bindingUrl"`
	OrderURL   string           `json:"orderUrl"`
}

func (h *Handler) addSociety(w http.ResponseWriter, r *http.Request, c *caller) {
	var req societyRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	s := &cmex.Society{Code: req.Code, Name: req.Name, Kind: req.Kind, BindingURL: req.BindingURL, OrderURL: req.OrderURL}
	if s.Kind == "" {
		s.Kind = cmex.SocietyRemote
		if s.BindingURL == "" && s.OrderURL == "" {
			s.Kind = cmex.SocietyLocal
		}
	}
	if err := h.Societies.CreateSociety(r.Context(), s); err != nil {
		h.fail(w, r, err)
		return
	}
	h.Logger.InfoContext(r.Context(), "api: society added", "society", s.Code, "kind", s.Kind, "by", c.principal.User.Username)
	h.json(w, http.StatusCreated, s)
}

// accountRequest opens a gateway account.
type accountRequest struct {
	Username   string       `json:"username"`
	Password   string       `json:"password"`
	GivenName  string       `json:"givenName"`
	FamilyName string       `json:"familyName"`
	Email      string       `json:"email"`
	Address    cmex.Address `json:"address"`
}

// signUpAnswer is the answer to every sign-up whose fields pass their
// checks, whether its username was free or taken (by a physician or a
// member of staff): the same status, the same words, the same work (the
// password is hashed either way), so that sign-up does not tell anyone
// which usernames exist. The physician learns it by signing in with the
// password she chose, which only she knows; anyone else probing a name
// that way fails a sign-in, which the login guard counts and limits.
type signUpAnswer struct {
	Username string `json:"username"`
	Message  string `json:"message"`
}

const signUpMessage = "If this username was free, the account is yours now: sign in with it and your password (GET /api/v1/account). If that is refused, the username was taken: sign up with another."

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request, _ *caller) {
	var req accountRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	a := &cmex.Account{Username: req.Username, GivenName: req.GivenName, FamilyName: req.FamilyName, Email: req.Email, Address: req.Address}
	err := h.Accounts.CreateAccount(r.Context(), a, req.Password)
	if err != nil && cmex.ErrorCode(err) != cmex.ECONFLICT {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusAccepted, signUpAnswer{Username: a.Username, Message: signUpMessage})
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	h.json(w, http.StatusOK, a)
}

func (h *Handler) listBindings(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	bs, err := h.Accounts.Bindings(r.Context(), a.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, map[string]any{"bindings": bs})
}

// bindRequest is a society login, used once and never stored.
type bindRequest struct {
	Society  string `json:"society"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (h *Handler) bind(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	var req bindRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Society == "" {
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "name the society (its code, from GET /api/v1/societies)"))
		return
	}
	b, err := h.Transcripts.Bind(r.Context(), a.ID, req.Society, req.Username, req.Password)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusCreated, b)
}

func (h *Handler) unbind(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	s, err := h.Societies.SocietyByCode(r.Context(), r.PathValue("society"))
	if err == nil {
		err = h.Accounts.DeleteBinding(r.Context(), a.ID, s.ID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listSelfCredits(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	list, err := h.Accounts.SelfCredits(r.Context(), a.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, map[string]any{"credits": list})
}

func (h *Handler) addSelfCredit(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	var c cmex.SelfCredit
	if err := h.decode(w, r, &c.CEU); err != nil {
		h.fail(w, r, err)
		return
	}
	c.AccountID = a.ID
	if err := h.Accounts.AddSelfCredit(r.Context(), &c); err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusCreated, c)
}

func (h *Handler) deleteSelfCredit(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, cmex.Errorf(cmex.ENOTFOUND, "no self-attested credit %s", r.PathValue("id")))
		return
	}
	if err := h.Accounts.DeleteSelfCredit(r.Context(), a.ID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) transcript(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	t, err := h.Transcripts.Transcript(r.Context(), a.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, t)
}
