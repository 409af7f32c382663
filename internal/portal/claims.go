package portal

import (
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// The pages that link physicians' accounts to their registry persons: a
// physician's sign-up and her claim (/signup, /claim), a provider's
// invitation as the physician opens it (/invitation), the provider
// admin's invitations (/provider/invitations), and the operators' queue of
// claims and list of links (/admin/claims).

// claimsView is the page data of these pages.
type claimsView struct {
	// Link is the physician's link, with its person; Latest her newest
	// claim that still stands (pending or refused: both are shown as
	// waiting); Answer what she is told of it.
	Link   *cmex.PersonLink
	Person *cmex.Person
	Latest *cmex.Claim
	Answer string
	// Boards and States fill the claim form's choices.
	Boards, States []string

	// Invitation is the one being opened, with its token (to post back)
	// and why it cannot be opened (Why: used, expired).
	Invitation *cmex.Invitation
	Token      string
	Why        string

	// Learners are the provider's, for the invitations page; Invitations
	// its latest ones; NewLink the link of the invitation just made, shown
	// this once.
	Learners    []*cmex.ProviderLearner
	Invitations []*cmex.Invitation
	NewLink     string
	NewFor      *cmex.Invitation

	// Pending are the claims waiting for operators, each with its
	// candidates; Decided the latest decided ones; Links the latest links.
	Pending []claimRow
	Decided []*cmex.Claim
	Links   []linkRow
}

// claimRow is a pending claim beside the registry records it may be.
type claimRow struct {
	Claim      *cmex.Claim
	Candidates []candidate
}

// candidate is a registry person a claim may be, with the account linked
// to it, if any, and which of the claim's evidence it differs from.
type candidate struct {
	Person                         *cmex.Person
	LinkedTo                       string
	OtherName, OtherBirth, NotHeld bool
}

// linkRow is a link with its person's name.
type linkRow struct {
	Link   *cmex.PersonLink
	Person *cmex.Person
}

// registerClaims adds the pages' routes.
func (h *Handler) registerClaims(route func(string, http.HandlerFunc)) {
	route("GET /signup", h.signUpForm)
	route("POST /signup", h.signUp)
	route("GET /claim", h.claimPage)
	route("POST /claim", h.claim)
	route("GET /invitation", h.invitationPage)
	route("POST /invitation", h.acceptInvitation)
	route("GET /provider/invitations", h.providerInvitations)
	route("POST /provider/invitations", h.invite)
	route("GET /admin/claims", h.adminClaims)
	route("POST /admin/claims/{id}/approve", h.approveClaim)
	route("POST /admin/claims/{id}/refuse", h.refuseClaim)
	route("POST /admin/links/{account}/unlink", h.unlink)
}

// form reads a posted form of at most maxForm bytes, answering the
// request itself (400) when it cannot.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read; please try again.", http.StatusBadRequest)
		return false
	}
	return true
}

// tooMany answers a refusal of the login guard (ETOOMANY, EBUSY) on page
// with v, and reports whether err was one.
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, err error, page string, v view) bool {
	status := http.StatusTooManyRequests
	switch cmex.ErrorCode(err) {
	case cmex.ETOOMANY:
	case cmex.EBUSY:
		status = http.StatusServiceUnavailable
	default:
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
	v.Error = cmex.ErrorMessage(err)
	h.render(w, r, status, page, v)
	return true
}

// failed logs an unexpected error and answers 503 on page with v.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, err error, what, page string, v view) {
	h.Logger.ErrorContext(r.Context(), "portal: "+what, "err", err)
	v.Error = "That could not be done just now; please try again."
	h.render(w, r, http.StatusServiceUnavailable, page, v)
}

// signUpAnswer is what every sign-up whose fields pass their checks is
// told, whether its username was free or taken, as the JSON API answers.
const signUpAnswer = "If this username was free, the account is yours now: sign in with it and your password. If signing in is refused, the username was taken: sign up with another."

func (h *Handler) signUpForm(w http.ResponseWriter, r *http.Request) {
	if s := h.session(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "signup", view{Title: "Create an account", Fields: map[string]string{}, FieldErrors: map[string]string{}})
}

// signUp opens a physician's account. Problems are shown beside their
// fields and nothing is stored; a sign-up that passes them is answered
// alike whether the username was free or taken, as POST /api/v1/accounts
// answers, and limited by address as it is (the guarded CreateAccount).
func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	v := view{Title: "Create an account", Fields: map[string]string{}, FieldErrors: map[string]string{}}
	for _, f := range []string{"username", "given", "family", "email"} {
		v.Fields[f] = strings.TrimSpace(r.PostForm.Get(f))
	}
	password := r.PostForm.Get("password")
	if u := v.Fields["username"]; u == "" || len(u) > 100 {
		v.FieldErrors["username"] = "Choose a username of at most 100 characters."
	}
	for _, f := range []string{"given", "family"} {
		if n := v.Fields[f]; n == "" || len(n) > 100 {
			v.FieldErrors[f] = "Enter your name as your licence shows it (at most 100 characters)."
		}
	}
	if e := v.Fields["email"]; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			v.FieldErrors["email"] = "Enter an e-mail address such as jane@example.org, or nothing."
		}
	}
	switch {
	case password == "":
		v.FieldErrors["password"] = "Choose a password."
	case len(password) > cmex.MaxPasswordBytes:
		v.FieldErrors["password"] = "The password is too long."
	}
	if len(v.FieldErrors) > 0 {
		h.render(w, r, http.StatusBadRequest, "signup", v)
		return
	}
	a := &cmex.Account{Username: v.Fields["username"], GivenName: v.Fields["given"], FamilyName: v.Fields["family"], Email: v.Fields["email"]}
	err := h.Accounts.CreateAccount(r.Context(), a, password)
	if h.tooMany(w, r, err, "signup", v) {
		return
	}
	switch cmex.ErrorCode(err) {
	case "", cmex.ECONFLICT:
	case cmex.EINVALID:
		v.Error = cmex.ErrorMessage(err)
		h.render(w, r, http.StatusBadRequest, "signup", v)
		return
	default:
		h.failed(w, r, err, "sign up", "signup", v)
		return
	}
	h.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Username: a.Username, Notice: signUpAnswer})
}

// claimForm is a view of the claim page with its choices.
func claimForm(s *cmex.Session) view {
	return view{Title: "Your registry record", User: &s.User, Fields: map[string]string{
		"given": s.User.Account.GivenName, "family": s.User.Account.FamilyName, "kind": cmex.KindNPI},
		FieldErrors: map[string]string{},
		Claims:      &claimsView{Boards: cmex.Boards.Values(), States: cmex.USStates.Values()}}
}

// renderClaim shows the claim page: her link, or her latest claim and the
// form.
func (h *Handler) renderClaim(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	ctx := r.Context()
	l, err := h.Claims.AccountLink(ctx, s.User.Account.ID)
	switch {
	case err == nil:
		v.Claims.Link = l
		if v.Claims.Person, err = h.Persons.Person(ctx, l.PersonID); err != nil {
			h.failed(w, r, err, "linked person", "claim", v)
			return
		}
	case cmex.ErrorCode(err) == cmex.ENOTFOUND:
		claims, err := h.Claims.AccountClaims(ctx, s.User.Account.ID)
		if err != nil {
			h.failed(w, r, err, "claims", "claim", v)
			return
		}
		for _, c := range claims {
			if c.Seen() == cmex.ClaimPending {
				v.Claims.Latest, v.Claims.Answer = c, cmex.ClaimAnswer(c)
				break
			}
			if c.State != cmex.ClaimWithdrawn {
				break // linked once, and unlinked since
			}
		}
	default:
		h.failed(w, r, err, "link", "claim", v)
		return
	}
	h.render(w, r, status, "claim", v)
}

func (h *Handler) claimPage(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	h.renderClaim(w, r, http.StatusOK, s, claimForm(s))
}

// claim takes a physician's claim of her registry record: her name, birth
// date and one identifier. Problems of form are shown beside their fields
// and store nothing. Every claim that passes them is answered alike, with
// a redirect to /claim, which then says whether the account is linked (an
// exact, unique match) or the claim waits for review, whatever made it
// wait; claims are limited as sign-ins are (cmex.Guarded.Claims).
func (h *Handler) claim(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil || !h.form(w, r) {
		return
	}
	v := claimForm(s)
	for _, f := range []string{"given", "family", "birthDate", "kind", "board", "state", "identifier"} {
		v.Fields[f] = strings.TrimSpace(r.PostForm.Get(f))
	}
	e := cmex.ClaimEvidence{GivenName: v.Fields["given"], FamilyName: v.Fields["family"], Kind: v.Fields["kind"], Identifier: v.Fields["identifier"]}
	switch strings.ToLower(e.Kind) {
	case cmex.KindBoard:
		e.Scope = v.Fields["board"]
	case cmex.KindLicense:
		e.Scope = v.Fields["state"]
	}
	if v.Fields["birthDate"] != "" {
		if d, _, err := cmex.ParseDate(v.Fields["birthDate"]); err == nil {
			e.BirthDate = d
		}
	}
	fields := map[string]string{"givenName": "given", "familyName": "family", "birthDate": "birthDate", "kind": "kind", "identifier": "identifier", "scope": "board"}
	if strings.ToLower(e.Kind) == cmex.KindLicense {
		fields["scope"] = "state"
	}
	for _, p := range e.Check(h.today()) {
		v.FieldErrors[fields[p.Field]] = p.Message
	}
	if len(v.FieldErrors) > 0 {
		h.renderClaim(w, r, http.StatusBadRequest, s, v)
		return
	}
	_, err := h.Claims.ClaimPerson(r.Context(), s.User.Account.ID, e)
	if h.tooMany(w, r, err, "claim", v) {
		return
	}
	switch cmex.ErrorCode(err) {
	case "", cmex.ECONFLICT: // linked, waiting, or linked already: the page says
	case cmex.EINVALID:
		for _, p := range cmex.ErrorProblems(err) {
			v.FieldErrors[fields[p.Field]] = p.Message
		}
		h.renderClaim(w, r, http.StatusBadRequest, s, v)
		return
	default:
		h.failed(w, r, err, "claim", "claim", v)
		return
	}
	http.Redirect(w, r, "/claim", http.StatusSeeOther)
}

// invitationURL is the link of an invitation's token: the path alone when
// the portal knows no address of its own (see baseURL).
func (h *Handler) invitationURL(r *http.Request, token string) string {
	return h.baseURL(r) + "/invitation?token=" + url.QueryEscape(token)
}

// invitationPage shows an invitation to whoever opens its link: to a
// signed-in physician, with a button that links her account; to anyone
// else, what to do; and plainly when it was used or has expired. The
// token travels in the query, which the access log never writes.
func (h *Handler) invitationPage(w http.ResponseWriter, r *http.Request) {
	h.showInvitation(w, r, r.URL.Query().Get("token"), http.StatusOK, "")
}

func (h *Handler) showInvitation(w http.ResponseWriter, r *http.Request, token string, status int, problem string) {
	v := view{Title: "An invitation", Claims: &claimsView{Token: token}, Error: problem}
	if s := h.session(r); s != nil {
		v.User = &s.User
	}
	inv, err := h.Claims.InvitationByToken(r.Context(), token)
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ENOTFOUND:
		v.Error = "This is not an invitation link cmex made. Check that the whole link was copied from the message."
		h.render(w, r, http.StatusNotFound, "invitation", v)
		return
	default:
		h.failed(w, r, err, "invitation", "invitation", v)
		return
	}
	v.Claims.Invitation = inv
	if why := inv.Usable(h.now()); why != "" {
		v.Claims.Why = why
		status = http.StatusGone
	}
	h.render(w, r, status, "invitation", v)
}

// acceptInvitation links the signed-in physician's account by the posted
// token, once.
func (h *Handler) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil || !h.form(w, r) {
		return
	}
	token := r.PostForm.Get("token")
	_, err := h.Claims.AcceptInvitation(r.Context(), token, s.User.Account.ID)
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ENOTFOUND, cmex.EFORBIDDEN:
		h.showInvitation(w, r, token, http.StatusGone, "")
		return
	case cmex.ECONFLICT:
		h.showInvitation(w, r, token, http.StatusConflict, cmex.ErrorMessage(err))
		return
	default:
		h.failed(w, r, err, "accept invitation", "invitation", view{Title: "An invitation", User: &s.User, Claims: &claimsView{}})
		return
	}
	// Linked, or waiting for an operator (the person was linked to
	// another account): the page says which.
	http.Redirect(w, r, "/claim", http.StatusSeeOther)
}

// providerAdmin returns the session and provider of a provider admin,
// having answered the request otherwise (provider staff are refused).
func (h *Handler) providerAdmin(w http.ResponseWriter, r *http.Request) (*cmex.Session, *cmex.Organization) {
	if s := h.signedIn(w, r, cmex.RoleProviderAdmin); s == nil {
		return nil, nil
	}
	return h.provider(w, r)
}

// renderInvitations shows the provider's learners, searched by q, and its
// latest invitations.
func (h *Handler) renderInvitations(w http.ResponseWriter, r *http.Request, status int, org *cmex.Organization, v view) {
	ctx := r.Context()
	var err error
	if v.Claims.Learners, err = h.Claims.ProviderLearners(ctx, org.ID, cmex.PersonFilter{Name: v.Fields["q"], Limit: 50}); err == nil {
		v.Claims.Invitations, err = h.Claims.Invitations(ctx, org.ID, 50)
	}
	if err != nil {
		h.failed(w, r, err, "invitations", "provider_invitations", v)
		return
	}
	h.render(w, r, status, "provider_invitations", v)
}

func (h *Handler) invitationsView(s *cmex.Session, org *cmex.Organization) view {
	return view{Title: "Invitations", User: &s.User, Provider: org, Fields: map[string]string{}, FieldErrors: map[string]string{}, Claims: &claimsView{}}
}

func (h *Handler) providerInvitations(w http.ResponseWriter, r *http.Request) {
	s, org := h.providerAdmin(w, r)
	if s == nil {
		return
	}
	v := h.invitationsView(s, org)
	v.Fields["q"] = strings.TrimSpace(r.URL.Query().Get("q"))
	if len(v.Fields["q"]) > 100 {
		v.FieldErrors["q"] = "Search with at most 100 characters."
		v.Fields["q"] = ""
		h.renderInvitations(w, r, http.StatusBadRequest, org, v)
		return
	}
	h.renderInvitations(w, r, http.StatusOK, org, v)
}

// invite makes an invitation for one of the provider's learners and shows
// its link, this once.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	s, org := h.providerAdmin(w, r)
	if s == nil || !h.form(w, r) {
		return
	}
	v := h.invitationsView(s, org)
	v.Fields["person"] = strings.TrimSpace(r.PostForm.Get("person"))
	id, err := strconv.ParseInt(v.Fields["person"], 10, 64)
	if err != nil || id <= 0 {
		v.FieldErrors["person"] = "Choose a learner to invite."
		h.renderInvitations(w, r, http.StatusBadRequest, org, v)
		return
	}
	inv, token, err := h.Claims.Invite(r.Context(), org.ID, cmex.PersonID(id))
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ENOTFOUND:
		v.FieldErrors["person"] = "That person is not among the learners you reported."
		h.renderInvitations(w, r, http.StatusNotFound, org, v)
		return
	default:
		h.failed(w, r, err, "invite", "provider_invitations", v)
		return
	}
	v.Claims.NewLink, v.Claims.NewFor = h.invitationURL(r, token), inv
	h.renderInvitations(w, r, http.StatusCreated, org, v)
}

// claimsQueueView is the claims page's view.
func claimsQueueView(s *cmex.Session) view {
	return view{Title: "Claims", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}, Claims: &claimsView{}}
}

// renderAdminClaims shows the pending claims beside their candidates, the
// latest decisions and links.
func (h *Handler) renderAdminClaims(w http.ResponseWriter, r *http.Request, status int, v view) {
	ctx := r.Context()
	persons := map[cmex.PersonID]*cmex.Person{}
	person := func(id cmex.PersonID) (*cmex.Person, error) {
		if p, ok := persons[id]; ok {
			return p, nil
		}
		p, err := h.Persons.Person(ctx, id)
		if cmex.ErrorCode(err) == cmex.ENOTFOUND {
			p, err = &cmex.Person{ID: id, GivenName: "(no longer", FamilyName: "in the registry)"}, nil
		}
		persons[id] = p
		return p, err
	}
	err := func() error {
		pending, err := h.Claims.Claims(ctx, cmex.ClaimFilter{State: cmex.ClaimPending, Limit: 200})
		if err != nil {
			return err
		}
		for _, c := range pending {
			row := claimRow{Claim: c}
			for _, id := range c.Candidates {
				p, err := person(id)
				if err != nil {
					return err
				}
				cand := candidate{Person: p}
				if c.Invitation == 0 {
					cand.OtherName, cand.OtherBirth, cand.NotHeld = c.Evidence.Differs(p)
				}
				if l, err := h.Claims.LinkOfPerson(ctx, id); err == nil {
					cand.LinkedTo = l.Username
				} else if cmex.ErrorCode(err) != cmex.ENOTFOUND {
					return err
				}
				row.Candidates = append(row.Candidates, cand)
			}
			v.Claims.Pending = append(v.Claims.Pending, row)
		}
		if v.Claims.Decided, err = h.Claims.Claims(ctx, cmex.ClaimFilter{Decided: true, Newest: true, Limit: 20}); err != nil {
			return err
		}
		links, err := h.Claims.Links(ctx, 100)
		if err != nil {
			return err
		}
		for _, l := range links {
			p, err := person(l.PersonID)
			if err != nil {
				return err
			}
			v.Claims.Links = append(v.Claims.Links, linkRow{Link: l, Person: p})
		}
		return nil
	}()
	if err != nil {
		h.failed(w, r, err, "claims", "admin_claims", v)
		return
	}
	h.render(w, r, status, "admin_claims", v)
}

func (h *Handler) adminClaims(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RoleAdmin)
	if s == nil {
		return
	}
	v := claimsQueueView(s)
	switch r.URL.Query().Get("done") {
	case "approved":
		v.Notice = "The claim is approved: the account is linked."
	case "refused":
		v.Notice = "The claim is refused. The physician still sees it as waiting."
	case "unlinked":
		v.Notice = "The account is unlinked."
	}
	h.renderAdminClaims(w, r, http.StatusOK, v)
}

// decision reads the path's id for an operator's form, answering the
// request itself when there is no such claim.
func (h *Handler) decision(w http.ResponseWriter, r *http.Request) (*cmex.Session, int64, bool) {
	s := h.signedIn(w, r, cmex.RoleAdmin)
	if s == nil || !h.form(w, r) {
		return nil, 0, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: "No such claim", User: &s.User})
		return nil, 0, false
	}
	return s, id, true
}

// decided answers an operator's decision that failed: beside its field,
// or as nothing to decide (missing).
func (h *Handler) decided(w http.ResponseWriter, r *http.Request, s *cmex.Session, field, missing string, err error) {
	v := claimsQueueView(s)
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND:
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: missing, User: &s.User})
	case cmex.EINVALID:
		v.FieldErrors[field] = cmex.ErrorMessage(err)
		h.renderAdminClaims(w, r, http.StatusBadRequest, v)
	case cmex.ECONFLICT:
		v.FieldErrors[field] = cmex.ErrorMessage(err)
		h.renderAdminClaims(w, r, http.StatusConflict, v)
	default:
		h.failed(w, r, err, "claim decision", "admin_claims", v)
	}
}

// noClaim is the title of the answer to a decision on no pending claim.
const noClaim = "No such pending claim"

// approveClaim links a pending claim's account to the person chosen among
// its candidates, or given by id.
func (h *Handler) approveClaim(w http.ResponseWriter, r *http.Request) {
	s, id, ok := h.decision(w, r)
	if !ok {
		return
	}
	field := "approve-" + strconv.FormatInt(id, 10)
	chosen := strings.TrimSpace(r.PostForm.Get("person"))
	if typed := strings.TrimSpace(r.PostForm.Get("personId")); typed != "" {
		chosen = typed
	}
	person, err := strconv.ParseInt(chosen, 10, 64)
	if err != nil || person <= 0 {
		h.decided(w, r, s, field, noClaim, cmex.Errorf(cmex.EINVALID, "Choose one of the candidates, or type a registry person's id."))
		return
	}
	if err := h.Claims.ApproveClaim(r.Context(), cmex.ClaimID(id), cmex.PersonID(person)); err != nil {
		h.decided(w, r, s, field, noClaim, err)
		return
	}
	http.Redirect(w, r, "/admin/claims?done=approved", http.StatusSeeOther)
}

// refuseClaim refuses a pending claim with the operator's reason.
func (h *Handler) refuseClaim(w http.ResponseWriter, r *http.Request) {
	s, id, ok := h.decision(w, r)
	if !ok {
		return
	}
	field := "refuse-" + strconv.FormatInt(id, 10)
	if err := h.Claims.RefuseClaim(r.Context(), cmex.ClaimID(id), r.PostForm.Get("reason")); err != nil {
		if cmex.ErrorCode(err) == cmex.EINVALID {
			err = cmex.Errorf(cmex.EINVALID, "Give the reason for refusing (at most 500 characters); it is kept in the audit log.")
		}
		h.decided(w, r, s, field, noClaim, err)
		return
	}
	http.Redirect(w, r, "/admin/claims?done=refused", http.StatusSeeOther)
}

// unlink removes an account's link, with the operator's reason.
func (h *Handler) unlink(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RoleAdmin)
	if s == nil || !h.form(w, r) {
		return
	}
	account, err := strconv.ParseInt(r.PathValue("account"), 10, 64)
	if err == nil {
		err = h.Claims.Unlink(r.Context(), cmex.AccountID(account), r.PostForm.Get("reason"))
	} else {
		err = cmex.Errorf(cmex.ENOTFOUND, "no such account")
	}
	if err != nil {
		if cmex.ErrorCode(err) == cmex.EINVALID {
			err = cmex.Errorf(cmex.EINVALID, "Give the reason for unlinking (at most 500 characters); it is kept in the audit log.")
		}
		h.decided(w, r, s, "unlink-"+r.PathValue("account"), "That account is not linked", err)
		return
	}
	http.Redirect(w, r, "/admin/claims?done=unlinked", http.StatusSeeOther)
}
