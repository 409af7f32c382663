package portal

import (
	"net/http"

	"github.com/cmexhub/cmex"
)

// verify tells whoever holds a printed transcript, signed in or not,
// whether its code is one cmex printed, for whom and when, and whether the
// ledger still holds exactly the credits it listed.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	var user *cmex.PortalUser
	if s := h.session(r); s != nil {
		user = &s.User
	}
	v := view{Title: "Verify a transcript", User: user}
	ver, err := h.Portal.Verification(r.Context(), r.PathValue("code"))
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		v.Error = "No transcript was printed with the code " + r.PathValue("code") + "."
		h.render(w, r, http.StatusNotFound, "verify", v)
		return
	}
	if err == nil {
		var t *cmex.Transcript
		if t, err = h.Transcripts.Transcript(r.Context(), ver.Account); err == nil {
			v.Verification, v.Now = ver, len(t.Credits)
			v.Matches = cmex.TranscriptDigest(t.Credits) == ver.Digest
			for _, f := range t.Failed() {
				v.Unreached = append(v.Unreached, f.Name)
			}
		}
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: verify", "err", err)
		v.Error = "The transcript could not be checked just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "verify", v)
		return
	}
	h.render(w, r, http.StatusOK, "verify", v)
}
