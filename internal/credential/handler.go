package credential

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// Handler serves what a verifier fetches: the DID document at
// /.well-known/did.json and the status lists at /credentials/status/{n}.
// Issuing and verifying are on the JSON API (and the portal).
type Handler struct {
	Credentials cmex.CredentialService
	Logger      *slog.Logger
}

// Register declares the handler's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/did.json", h.did)
	mux.HandleFunc("GET /credentials/status/{n}", h.status)
}

func (h *Handler) did(w http.ResponseWriter, r *http.Request) {
	b, err := h.Credentials.DIDDocument(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/did+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(b)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		h.fail(w, r, cmex.Errorf(cmex.ENOTFOUND, "no status list %q", r.PathValue("n")))
		return
	}
	b, err := h.Credentials.StatusListCredential(r.Context(), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/vc+ld+json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(b)
}

// fail answers a JSON error with the error's safe message.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND:
		status = http.StatusNotFound
	case cmex.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	default:
		if h.Logger != nil {
			h.Logger.ErrorContext(r.Context(), "credential: internal error", "err", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	msg, _ := jsonString(cmex.ErrorMessage(err))
	_, _ = w.Write([]byte(`{"error":{"code":"` + cmex.ErrorCode(err) + `","message":` + msg + `}}` + "\n"))
}
