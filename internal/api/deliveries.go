package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// destinationRequest adds a destination; secrets are stored encrypted and
// never returned.
type destinationRequest struct {
	Name          string                   `json:"name"`
	Kind          cmex.DestinationKind     `json:"kind"`
	URL           string                   `json:"url"`
	Secrets       cmex.DestinationSecrets  `json:"secrets"`
	Settings      cmex.DestinationSettings `json:"settings"`
	Routing       cmex.RoutingRule         `json:"routing"`
	Concurrency   int                      `json:"concurrency"`
	RatePerSecond float64                  `json:"ratePerSecond"`
	Enabled       *bool                    `json:"enabled"`
}

func (h *Handler) addDestination(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	var req destinationRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	d := &cmex.Destination{OrganizationID: p.Organization.ID, Name: req.Name, Kind: req.Kind, URL: req.URL, Secrets: req.Secrets,
		Settings: req.Settings, Routing: req.Routing, Concurrency: req.Concurrency, RatePerSecond: req.RatePerSecond, Enabled: req.Enabled == nil || *req.Enabled}
	if err := h.Deliveries.CreateDestination(r.Context(), d); err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusCreated, d)
}

func (h *Handler) listDestinations(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	list, err := h.Deliveries.ListDestinations(r.Context(), p.Organization.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if list == nil {
		list = []*cmex.Destination{}
	}
	h.json(w, http.StatusOK, map[string]any{"destinations": list})
}

func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > cmex.MaxDeliveryLimit {
			h.fail(w, r, cmex.Errorf(cmex.EINVALID, "bad query parameters: [limit (1-%d)]", cmex.MaxDeliveryLimit))
			return
		}
		limit = n
	}
	list, err := h.Deliveries.ListDeliveries(r.Context(), cmex.DeliveryFilter{OrganizationID: p.Organization.ID,
		State: cmex.DeliveryState(q.Get("state")), Destination: q.Get("destination"), Limit: limit})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, map[string]any{"deliveries": list})
}

func (h *Handler) deliveryID(r *http.Request) (cmex.DeliveryID, error) {
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, cmex.Errorf(cmex.ENOTFOUND, "no delivery %s", r.PathValue("id"))
	}
	return cmex.DeliveryID(n), nil
}

func (h *Handler) getDelivery(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	id, err := h.deliveryID(r)
	var d *cmex.Delivery
	if err == nil {
		d, err = h.Deliveries.Delivery(r.Context(), p.Organization.ID, id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, d)
}

func (h *Handler) retryDelivery(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	h.changeDelivery(w, r, p, h.Deliveries.RetryDelivery)
}

func (h *Handler) cancelDelivery(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	h.changeDelivery(w, r, p, h.Deliveries.CancelDelivery)
}

func (h *Handler) changeDelivery(w http.ResponseWriter, r *http.Request, p *cmex.Principal,
	change func(context.Context, cmex.OrganizationID, cmex.DeliveryID) error) {
	id, err := h.deliveryID(r)
	if err == nil {
		err = change(r.Context(), p.Organization.ID, id)
	}
	var d *cmex.Delivery
	if err == nil {
		d, err = h.Deliveries.Delivery(r.Context(), p.Organization.ID, id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, d)
}
