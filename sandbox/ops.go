package sandbox

import (
	"errors"
	"net/http"

	"github.com/qualitycommit/qcsdk/client"
)

// The operator API under /_sandbox lets programs that are not written in Go
// (and the qcsandbox command's users) do what the Sandbox methods do:
// publish changes, expire the change feed, set faults and register
// webhooks. It is not part of the public contract.

func (s *Sandbox) opDemo(b *buffer, r *http.Request) {
	b.json(http.StatusOK, ccNoStore, struct {
		ReferenceTime string        `json:"reference_time"`
		Products      []DemoProduct `json:"products"`
		NotListed     client.GTIN   `json:"not_listed_gtin"`
	}{s.cfg.data.ref.Format("2006-01-02"), s.Demo(), s.NotListedGTIN()})
}

func (s *Sandbox) opStats(b *buffer, r *http.Request) {
	routes := map[string]int64{}
	for name, c := range s.stats {
		if n := c.Load(); n > 0 && name != "" {
			routes[name] = n
		}
	}
	delivered, failed := s.WebhookStats()
	b.json(http.StatusOK, ccNoStore, map[string]any{
		"requests":          routes,
		"unrouted":          s.stats[""].Load(),
		"webhook_delivered": delivered,
		"webhook_failed":    failed,
		"reports":           s.Reports(),
		"feed_head":         encodeEventCursor(s.reg.head()),
	})
}

func (s *Sandbox) opFaults(b *buffer, r *http.Request) {
	var req struct {
		Faults []string `json:"faults"`
	}
	if !readJSON(b, r, maxBatchBody, &req) {
		return
	}
	faults := make([]Fault, 0, len(req.Faults))
	for _, spec := range req.Faults {
		f, err := ParseFault(spec)
		if err != nil {
			b.problem(http.StatusBadRequest, client.CodeInvalidBody, err.Error())
			return
		}
		faults = append(faults, f)
	}
	s.faults.set(faults)
	b.json(http.StatusOK, ccNoStore, req)
}

func (s *Sandbox) opWebhook(b *buffer, r *http.Request) {
	var req struct {
		URL     string   `json:"url"`
		Secrets []string `json:"secrets"`
		APIKey  string   `json:"api_key,omitempty"` // the platform's: its reports' changes come too
	}
	if !readJSON(b, r, maxBatchBody, &req) {
		return
	}
	owner := req.APIKey
	if owner == "" {
		owner = anonymous // as AddWebhook
	}
	if err := s.addWebhook(owner, req.URL, req.Secrets); err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, err.Error())
		return
	}
	b.json(http.StatusCreated, ccNoStore, map[string]string{"url": req.URL})
}

func (s *Sandbox) opCommitmentStatus(b *buffer, r *http.Request) {
	var req struct {
		Status client.CommitmentStatus `json:"status"`
		Reason *client.Text            `json:"reason,omitempty"`
	}
	if !readJSON(b, r, maxReportBody, &req) {
		return
	}
	if !req.Status.Known() {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "status must be active, suspended, revoked or expired")
		return
	}
	c, ev, err := s.reg.setCommitmentStatus(r.PathValue("id"), req.Status, req.Reason)
	if s.opError(b, err) {
		return
	}
	b.json(http.StatusOK, ccNoStore, map[string]any{"commitment": c, "event": ev})
}

func (s *Sandbox) opInspection(b *buffer, r *http.Request) {
	var req struct {
		GTIN   string                  `json:"gtin"`
		Result client.InspectionResult `json:"result"`
	}
	if !readJSON(b, r, maxReportBody, &req) {
		return
	}
	g, err := client.ParseGTIN(req.GTIN)
	if err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidGTIN, err.Error())
		return
	}
	if !req.Result.Known() {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "result must be pass, fail or pending")
		return
	}
	in, ev, err := s.reg.publishInspection(g, req.Result)
	if s.opError(b, err) {
		return
	}
	b.json(http.StatusCreated, ccNoStore, map[string]any{"inspection": in, "event": ev})
}

func (s *Sandbox) opDelist(b *buffer, r *http.Request) {
	ev, err := s.reg.delist(r.PathValue("id"))
	if s.opError(b, err) {
		return
	}
	b.json(http.StatusOK, ccNoStore, map[string]any{"event": ev})
}

func (s *Sandbox) opExpireFeed(b *buffer, r *http.Request) {
	n := s.ExpireFeed()
	b.json(http.StatusOK, ccNoStore, map[string]any{"dropped": n, "feed_head": encodeEventCursor(s.reg.head())})
}

func (s *Sandbox) opError(b *buffer, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotFound):
		b.problem(http.StatusNotFound, client.CodeNotFound, err.Error())
	default:
		b.problem(http.StatusInternalServerError, client.CodeInternal, err.Error())
	}
	return true
}
