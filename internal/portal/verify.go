package portal

import (
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// verify tells whoever holds a printed transcript, signed in or not,
// whether its code is one cmex printed, for whom and when, and whether the
// ledger still holds exactly the credits it listed: the digest kept at
// printing against one of the credits this cmex holds now, asking no
// society (HeldTranscript), so that a public page costs a few reads and
// no remote call. Each address may ask a limited number of times
// (the login guard's Verifications).
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) {
	var user *cmex.PortalUser
	if s := h.session(r); s != nil {
		user = &s.User
	}
	v := view{Title: "Verify a transcript", User: user}
	ver, err := h.Portal.Verification(r.Context(), r.PathValue("code"))
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND:
		v.Error = "No transcript was printed with the code " + r.PathValue("code") + "."
		h.render(w, r, http.StatusNotFound, "verify", v)
		return
	case cmex.ETOOMANY:
		v.Error = cmex.ErrorMessage(err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		h.render(w, r, http.StatusTooManyRequests, "verify", v)
		return
	}
	if err == nil {
		var t *cmex.Transcript
		if t, err = h.Transcripts.HeldTranscript(r.Context(), ver.Account); err == nil {
			v.Verification, v.Now = ver, len(t.Credits)
			v.Matches = cmex.TranscriptDigest(t.Credits) == ver.Digest
			for _, s := range t.Sources {
				switch s.Status {
				case cmex.SourceFailed:
					v.Unreached = append(v.Unreached, s.Name)
				case cmex.SourceCached:
					v.Remote = append(v.Remote, s)
				}
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
