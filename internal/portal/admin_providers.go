package portal

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"

	"github.com/cmexhub/cmex"
)

// Providers, their web-service users and their API keys. A password or a
// token cmex makes is shown once, on the page that answers the post that
// made it (never stored in the clear, never in a URL), and is gone on the
// next page.

// providerRow is a provider with how many users and keys it has.
type providerRow struct {
	Org                  *cmex.Organization
	Users, DisabledUsers int
	Keys, DisabledKeys   int
}

func (h *Handler) adminProviders(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	h.renderProviders(w, r, http.StatusOK, s, newView(s, "Providers"))
}

func (h *Handler) renderProviders(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	orgs, err := h.Organizations.ListOrganizations(r.Context())
	if err != nil {
		h.adminFail(w, r, s, "providers", err)
		return
	}
	for _, o := range orgs {
		if o.Kind != cmex.OrgProvider {
			continue
		}
		row := providerRow{Org: o}
		users, err := h.Operator.Users.ListWebServiceUsers(r.Context(), o.ID)
		if err != nil {
			h.adminFail(w, r, s, "providers' users", err)
			return
		}
		keys, err := h.Operator.APIKeys.ListAPIKeys(r.Context(), o.ID)
		if err != nil {
			h.adminFail(w, r, s, "providers' keys", err)
			return
		}
		row.Users, row.Keys = len(users), len(keys)
		for _, u := range users {
			if u.Disabled {
				row.DisabledUsers++
			}
		}
		for _, k := range keys {
			if k.Disabled {
				row.DisabledKeys++
			}
		}
		v.Admin.Orgs = append(v.Admin.Orgs, row)
	}
	h.render(w, r, status, "admin_providers", v)
}

// adminAddProvider adds a provider from its ACCME id and name.
func (h *Handler) adminAddProvider(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	v := newView(s, "Providers")
	v.Fields["provider"], v.Fields["name"] = strings.TrimSpace(r.PostForm.Get("provider")), strings.TrimSpace(r.PostForm.Get("name"))
	id, err := cmex.ParseProviderID(v.Fields["provider"])
	if err != nil {
		v.FieldErrors["provider"] = "Enter the provider's ACCME id: 1 to 10 digits."
	}
	if n := v.Fields["name"]; n == "" || len(n) > 255 {
		v.FieldErrors["name"] = "Enter the provider's name (at most 255 characters)."
	}
	if len(v.FieldErrors) > 0 {
		h.renderProviders(w, r, http.StatusBadRequest, s, v)
		return
	}
	o := &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: id, Name: v.Fields["name"]}
	switch err := h.Organizations.CreateOrganization(r.Context(), o); cmex.ErrorCode(err) {
	case "":
	case cmex.ECONFLICT:
		v.FieldErrors["provider"] = "A provider with this id exists already."
		h.renderProviders(w, r, http.StatusConflict, s, v)
		return
	case cmex.EINVALID:
		v.Error = cmex.ErrorMessage(err)
		h.renderProviders(w, r, http.StatusBadRequest, s, v)
		return
	default:
		h.adminFail(w, r, s, "add provider", err)
		return
	}
	http.Redirect(w, r, "/admin/providers/"+string(o.ProviderID)+"?done=added", http.StatusSeeOther)
}

// adminOrg returns the provider the path names, having answered the
// request otherwise (the same page for a malformed and an unknown id).
func (h *Handler) adminOrg(w http.ResponseWriter, r *http.Request, s *cmex.Session) *cmex.Organization {
	id, err := cmex.ParseProviderID(r.PathValue("provider"))
	if err == nil {
		var o *cmex.Organization
		if o, err = h.Organizations.FindOrganizationByProviderID(r.Context(), id); err == nil {
			return o
		}
		if cmex.ErrorCode(err) != cmex.ENOTFOUND {
			h.adminFail(w, r, s, "provider", err)
			return nil
		}
	}
	h.render(w, r, http.StatusNotFound, "notfound", view{Title: "There is no such provider", User: &s.User})
	return nil
}

// providerNotices are what the provider page says after a change.
var providerNotices = map[string]string{
	"added":         "The provider is added. Give it a web-service user or an API key below.",
	"user-disabled": "The user is disabled: every call made with it is refused, on PARS and on the JSON API, from now on.",
	"user-enabled":  "The user is enabled again.",
	"key-disabled":  "The API key is disabled: every call made with it is refused from now on.",
	"key-enabled":   "The API key is enabled again.",
}

func (h *Handler) adminProvider(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	v := newView(s, "Provider "+string(o.ProviderID))
	v.Notice = providerNotices[r.URL.Query().Get("done")]
	h.renderProvider(w, r, http.StatusOK, s, o, v)
}

func (h *Handler) renderProvider(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, o *cmex.Organization, v view) {
	users, err := h.Operator.Users.ListWebServiceUsers(r.Context(), o.ID)
	if err != nil {
		h.adminFail(w, r, s, "provider's users", err)
		return
	}
	keys, err := h.Operator.APIKeys.ListAPIKeys(r.Context(), o.ID)
	if err != nil {
		h.adminFail(w, r, s, "provider's keys", err)
		return
	}
	v.Title = "Provider " + string(o.ProviderID)
	v.Admin.Org, v.Admin.Users, v.Admin.Keys = o, users, keys
	h.render(w, r, status, "admin_provider", v)
}

// newPassword is a password cmex makes for a web-service user: 26
// characters of base32, 130 random bits, and nothing an XML envelope or
// a shell would have to escape.
func newPassword() string { return rand.Text() }

// adminAddUser adds a web-service user with a password cmex makes, shown
// once.
func (h *Handler) adminAddUser(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	v := newView(s, "")
	name := strings.TrimSpace(r.PostForm.Get("username"))
	v.Fields["username"] = name
	if name == "" || len(name) > 100 {
		v.FieldErrors["username"] = "Enter the username, usually an e-mail address (at most 100 characters)."
		h.renderProvider(w, r, http.StatusBadRequest, s, o, v)
		return
	}
	password := newPassword()
	err := h.Operator.Users.CreateWebServiceUser(r.Context(), &cmex.WebServiceUser{OrganizationID: o.ID, Username: name}, password)
	h.providerAdded(w, r, s, o, v, err, "username", "This provider has a user of this name already.", "add web-service user",
		&shownSecret{What: "The password of the new user", Name: name, Value: password})
}

// adminRotateUser gives a user a new password, shown once; the old one
// is refused from then on.
func (h *Handler) adminRotateUser(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	name := r.PostForm.Get("username")
	password := newPassword()
	if err := h.Operator.Users.SetWebServiceUserPassword(r.Context(), o.ID, name, password); err != nil {
		h.adminNoSuch(w, r, s, "web-service user", err)
		return
	}
	v := newView(s, "")
	v.Admin.Secret = &shownSecret{What: "The new password of", Name: name, Value: password}
	h.renderProvider(w, r, http.StatusOK, s, o, v)
}

// adminNoSuch answers a change of a user or key that failed: not found,
// or a failure of the store.
func (h *Handler) adminNoSuch(w http.ResponseWriter, r *http.Request, s *cmex.Session, what string, err error) {
	if code := cmex.ErrorCode(err); code == cmex.ENOTFOUND || code == cmex.EINVALID {
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: "There is no such " + what, User: &s.User})
		return
	}
	h.adminFail(w, r, s, what, err)
}

func (h *Handler) adminDisableUser(w http.ResponseWriter, r *http.Request) {
	h.adminSetUser(w, r, true)
}
func (h *Handler) adminEnableUser(w http.ResponseWriter, r *http.Request) {
	h.adminSetUser(w, r, false)
}

func (h *Handler) adminSetUser(w http.ResponseWriter, r *http.Request, disabled bool) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	if err := h.Operator.Users.SetWebServiceUserDisabled(r.Context(), o.ID, r.PostForm.Get("username"), disabled); err != nil {
		h.adminNoSuch(w, r, s, "web-service user", err)
		return
	}
	done := "user-enabled"
	if disabled {
		done = "user-disabled"
	}
	http.Redirect(w, r, "/admin/providers/"+url.PathEscape(string(o.ProviderID))+"?done="+done, http.StatusSeeOther)
}

// adminAddKey makes an API key, its token shown once.
func (h *Handler) adminAddKey(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	v := newView(s, "")
	name := strings.TrimSpace(r.PostForm.Get("name"))
	v.Fields["keyname"] = name
	if name == "" || len(name) > 100 {
		v.FieldErrors["keyname"] = "Enter a name for the key, to tell it from the provider's others (at most 100 characters)."
		h.renderProvider(w, r, http.StatusBadRequest, s, o, v)
		return
	}
	_, token, err := h.Operator.APIKeys.CreateAPIKey(r.Context(), o.ID, name)
	h.providerAdded(w, r, s, o, v, err, "keyname", "This provider has a key of this name already.", "add API key",
		&shownSecret{What: "The token of the new API key", Name: name, Value: token})
}

// adminRotateKey gives a key a new token, shown once.
func (h *Handler) adminRotateKey(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	k, token, err := h.Operator.APIKeys.RotateAPIKey(r.Context(), o.ID, r.PostForm.Get("name"))
	if err != nil {
		h.adminNoSuch(w, r, s, "API key", err)
		return
	}
	v := newView(s, "")
	v.Admin.Secret = &shownSecret{What: "The new token of the API key", Name: k.Name, Value: token}
	h.renderProvider(w, r, http.StatusOK, s, o, v)
}

func (h *Handler) adminDisableKey(w http.ResponseWriter, r *http.Request) { h.adminSetKey(w, r, true) }
func (h *Handler) adminEnableKey(w http.ResponseWriter, r *http.Request)  { h.adminSetKey(w, r, false) }

func (h *Handler) adminSetKey(w http.ResponseWriter, r *http.Request, disabled bool) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	o := h.adminOrg(w, r, s)
	if o == nil {
		return
	}
	if err := h.Operator.APIKeys.SetAPIKeyDisabled(r.Context(), o.ID, r.PostForm.Get("name"), disabled); err != nil {
		h.adminNoSuch(w, r, s, "API key", err)
		return
	}
	done := "key-enabled"
	if disabled {
		done = "key-disabled"
	}
	http.Redirect(w, r, "/admin/providers/"+url.PathEscape(string(o.ProviderID))+"?done="+done, http.StatusSeeOther)
}

// providerAdded answers the form that added a user or a key to provider o:
// its problem beside field (a name taken, or refused), or the provider's
// page with the new secret shown once.
func (h *Handler) providerAdded(w http.ResponseWriter, r *http.Request, s *cmex.Session, o *cmex.Organization, v view, err error,
	field, taken, what string, secret *shownSecret) {
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ECONFLICT:
		v.FieldErrors[field] = taken
		h.renderProvider(w, r, http.StatusConflict, s, o, v)
		return
	case cmex.EINVALID:
		v.FieldErrors[field] = cmex.ErrorMessage(err)
		h.renderProvider(w, r, http.StatusBadRequest, s, o, v)
		return
	default:
		h.adminFail(w, r, s, what, err)
		return
	}
	v.Fields = map[string]string{}
	v.Admin.Secret = secret
	h.renderProvider(w, r, http.StatusOK, s, o, v)
}
