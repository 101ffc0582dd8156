package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/idem"
)

// Reports and clues: a shopper's report (POST /v1/reports), a rights
// holder's batch of clues (POST /v1/reports/batch), the reporter's private
// read (GET /v1/reports/{id} with the report's token), the platform's list
// of its own reports (GET /v1/reports), and the lifecycle an operator moves
// a report through (Sandbox.AdvanceReport, POST /_sandbox/reports/{id}/advance).

// anyKey owns the demo reports: every API key reads them.
const anyKey = "*"

// visibleTo reports whether a reader with API key scope may see what
// owner owns ("" is public).
func visibleTo(owner, scope string) bool {
	return owner == "" || owner == anyKey || owner == scope
}

// anonymous is the scope of the callers a sandbox without API keys takes
// without one. It is not "" (public): their reports are theirs, as a
// platform's are, and reach no platform with a key.
const anonymous = "\x00anonymous"

// scope is whose reports and report events a request files and reads:
// its API key's, or the anonymous callers'.
func (s *Sandbox) scope(r *http.Request) string {
	if key, _ := s.authenticate(r); key != "" {
		return key
	}
	return anonymous
}

// reportBook is the registry's reports. It lives under the registry's lock.
type reportBook struct {
	reports map[string]*storedReport
	order   []string // report ids, oldest filed first
	idem    map[string]idemEntry
	nextRpt int
	filed   int // reports filed through the API (not the demo's)
}

type storedReport struct {
	rep   client.Report // without its token
	token string
	owner string // the API key that filed it
}

type idemEntry struct {
	bodyHash uint64
	reportID string
}

func newReportBook() reportBook {
	return reportBook{reports: map[string]*storedReport{}, idem: map[string]idemEntry{}}
}

// newReportToken is 192 random bits, URL-safe: more than the contract's
// 128, and nothing a lookup can guess.
func newReportToken() string {
	var b [24]byte
	rand.Read(b[:]) // never fails, per crypto/rand's documentation
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokenMatches compares in constant time, over digests so that even the
// length of the stored token does not show in the time taken.
func tokenMatches(stored, given string) bool {
	a, b := sha256.Sum256([]byte(stored)), sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// fileReportLocked stores a report once per idempotency key (scoped to
// the API key). It reports whether the answer is a replay, and
// errIdempotencyConflict when the key was used with another body. The
// answer carries the token. The caller holds r.mu for writing.
func (r *registry) fileReportLocked(scope, key string, bodyHash uint64, rep client.Report) (client.Report, bool, error) {
	if key != "" {
		if prev, ok := r.idem[scope+"\x00"+key]; ok {
			if prev.bodyHash != bodyHash {
				return client.Report{}, false, errIdempotencyConflict
			}
			st := r.reports[prev.reportID]
			out := st.rep
			out.AccessToken = client.ReportToken(st.token)
			return out, true, nil
		}
	}
	now := r.clock().UTC().Truncate(time.Millisecond)
	r.nextRpt++
	r.filed++
	rep.ID = fmt.Sprintf("rpt_%08d", r.nextRpt)
	rep.Status = client.ReportReceived
	rep.Steps = []client.ReportStep{{Status: client.ReportReceived, At: now}}
	rep.CreatedAt, rep.UpdatedAt = now, now
	st := &storedReport{rep: rep, token: newReportToken(), owner: scope}
	r.reports[rep.ID] = st
	r.order = append(r.order, rep.ID)
	if key != "" {
		r.idem[scope+"\x00"+key] = idemEntry{bodyHash: bodyHash, reportID: rep.ID}
	}
	rep.AccessToken = client.ReportToken(st.token)
	return rep, false, nil
}

var errIdempotencyConflict = errors.New("idempotency key reused with another body")

// reportWithToken answers a report to whoever holds its token. An unknown
// id costs the same comparison as a known one, and answers the same.
func (r *registry) reportWithToken(id, token string) (client.Report, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.reports[id]
	stored := "\x00no report" // compared all the same: no timing tells an unknown id
	if ok {
		stored = st.token
	}
	if !tokenMatches(stored, token) || !ok {
		return client.Report{}, false
	}
	return st.rep, true
}

// reportsOf pages the reports scope may read, newest first, filtered.
// from is an exclusive upper bound into order (0: from the newest); next
// is -1 on the last page.
func (r *registry) reportsOf(scope string, status client.ReportStatus, kind client.ReporterKind, from, limit int) ([]client.Report, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i := len(r.order)
	if from > 0 && from < i {
		i = from
	}
	out := []client.Report{}
	for i--; i >= 0; i-- {
		st := r.reports[r.order[i]]
		if !visibleTo(st.owner, scope) || status != "" && st.rep.Status != status || kind != "" && st.rep.ReporterKind != kind {
			continue
		}
		if len(out) == limit {
			return out, i + 1
		}
		out = append(out, st.rep)
	}
	return out, -1
}

func (r *registry) reportCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.filed
}

// ReportAdvance is the next step an operator moves a report to. The zero
// value moves it one step on: received → forwarded (to the maker's
// provincial authority) → under investigation; closing needs an Outcome.
type ReportAdvance struct {
	Status    client.ReportStatus  `json:"status,omitempty"`
	Authority *client.Text         `json:"authority,omitempty"`
	Outcome   client.ReportOutcome `json:"outcome,omitempty"`
	// CaseID names the typical case a case_published outcome links to;
	// empty links the newest case.
	CaseID string `json:"case_id,omitempty"`
}

var reportOrder = map[client.ReportStatus]int{
	client.ReportReceived: 0, client.ReportForwarded: 1, client.ReportUnderInvestigation: 2, client.ReportClosed: 3,
}

var reportSteps = []client.ReportStatus{client.ReportReceived, client.ReportForwarded, client.ReportUnderInvestigation, client.ReportClosed}

// AdvanceReport moves a report to its next step (see ReportAdvance), and
// publishes the change to the feed and the webhooks of the platform that
// filed it. A case_published outcome counts the report among its case's
// clues, which publishes the case anew.
func (s *Sandbox) AdvanceReport(id string, adv ReportAdvance) (client.Report, error) {
	return s.reg.advanceReport(id, adv)
}

func (r *registry) advanceReport(id string, adv ReportAdvance) (client.Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.advanceReportLocked(id, adv)
}

func (r *registry) advanceReportLocked(id string, adv ReportAdvance) (client.Report, error) {
	st, ok := r.reports[id]
	if !ok {
		return client.Report{}, fmt.Errorf("report %q: %w", id, ErrNotFound)
	}
	cur := reportOrder[st.rep.Status]
	if st.rep.Status == client.ReportClosed {
		return client.Report{}, fmt.Errorf("report %s is closed: %w", id, ErrReportStep)
	}
	next := adv.Status
	if next == "" {
		next = reportSteps[cur+1]
	}
	to, known := reportOrder[next]
	if !known || to <= cur {
		return client.Report{}, fmt.Errorf("report %s is %s and cannot move to %q: %w", id, st.rep.Status, next, ErrReportStep)
	}
	now := r.clock().UTC().Truncate(time.Millisecond)
	step := client.ReportStep{Status: next, At: now}
	switch next {
	case client.ReportForwarded:
		step.Authority = adv.Authority
		if step.Authority == nil {
			a := r.authorityFor(st.rep.Product)
			step.Authority = &a
		}
	case client.ReportClosed:
		step.Outcome = adv.Outcome
		switch adv.Outcome {
		case client.OutcomeNotSubstantiated, client.OutcomeOutsideScope:
		case client.OutcomeCasePublished:
			c := adv.CaseID
			if c == "" && len(r.casesByDate) > 0 {
				c = r.casesByDate[len(r.casesByDate)-1].ID
			}
			if _, ok := r.caseByID[c]; !ok {
				return client.Report{}, fmt.Errorf("case %q: %w", c, ErrNotFound)
			}
			step.CaseID = c
		default:
			return client.Report{}, fmt.Errorf("closing needs an outcome (case_published, not_substantiated or outside_scope), not %q: %w", adv.Outcome, ErrReportStep)
		}
	}
	rep := st.rep // copy on write: readers hold the previous steps
	rep.Steps = append(slices.Clip(rep.Steps), step)
	rep.Status, rep.UpdatedAt = next, now
	rep.Outcome, rep.CaseID = step.Outcome, step.CaseID
	r.reports[id] = &storedReport{rep: rep, token: st.token, owner: st.owner}
	r.seq++
	r.publishForLocked(client.Event{Type: client.EventReportStatusChanged, Report: &client.ReportChange{
		ID: rep.ID, ReporterKind: rep.ReporterKind, Status: rep.Status, Outcome: rep.Outcome, CaseID: rep.CaseID, At: now,
	}}, st.owner)
	if step.CaseID != "" {
		r.countClueLocked(step.CaseID, rep.ReporterKind, now)
	}
	return rep, nil
}

// countClueLocked adds a report to its case's clue counts, as a new
// version of the case.
func (r *registry) countClueLocked(id string, kind client.ReporterKind, now time.Time) {
	i := r.caseByID[id]
	c := *r.cases[i]
	if kind == client.ReporterRightsHolder {
		c.Clues.RightsHolder++
	} else {
		c.Clues.Consumer++
	}
	r.seq++
	c.Version, c.UpdatedAt = r.seq, now
	old := r.cases[i]
	r.cases[i] = &c
	for j, p := range r.casesByDate {
		if p == old {
			r.casesByDate[j] = &c
		}
	}
	r.publishLocked(client.Event{Type: client.EventCaseUpdated, Case: &c})
}

// authorityFor names the market regulation administration of the maker's
// province, or the national one for a maker the sandbox does not know.
func (r *registry) authorityFor(k client.ProductKey) client.Text {
	var e int
	var ok bool
	if k.GTIN != "" {
		e, _, ok = decodeGTIN(k.GTIN)
	} else {
		e, ok = r.entByUSCC[k.USCC]
	}
	if ok && e < len(r.ents) {
		p := regionOf(r.ents[e].ent.RegionCode).province
		return client.Text{ZH: p.ZH + "市场监督管理局", EN: p.EN + " Administration for Market Regulation"}
	}
	return client.Text{ZH: "国家市场监督管理总局", EN: "State Administration for Market Regulation"}
}

// DemoReport is a report the sandbox starts with, and its token.
type DemoReport struct {
	ID           string               `json:"id"`
	Token        client.ReportToken   `json:"-"`
	ReporterKind client.ReporterKind  `json:"reporter_kind"`
	Status       client.ReportStatus  `json:"status"`
	Outcome      client.ReportOutcome `json:"outcome,omitempty"`
}

// demoReportJSON is a demo report as the operator API shows it, token
// and all: the sandbox's demo data is for tests, and its tokens are no
// secret. (A client.ReportToken alone hides itself in JSON.)
type demoReportJSON struct {
	DemoReport
	Token string `json:"token"`
}

// demoReportPlan is one demo report per lifecycle stage and outcome,
// from both kinds of reporter.
var demoReportPlan = []struct {
	kind    client.ReporterKind
	steps   int // steps past received
	outcome client.ReportOutcome
}{
	{client.ReporterConsumer, 0, ""},
	{client.ReporterRightsHolder, 1, ""},
	{client.ReporterConsumer, 2, ""},
	{client.ReporterRightsHolder, 3, client.OutcomeCasePublished},
	{client.ReporterConsumer, 3, client.OutcomeCasePublished},
	{client.ReporterConsumer, 3, client.OutcomeNotSubstantiated},
	{client.ReporterRightsHolder, 3, client.OutcomeOutsideScope},
}

// fileDemoReports files the demo reports, readable by every API key,
// and walks each through its stages, a day a step, dated before the
// reference day ref so that the data set stays deterministic. Like the
// rest of the generated data set's history, their changes are not on the
// feed.
func (r *registry) fileDemoReports(ref time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.demo) == 0 {
		return
	}
	clock := r.clock
	at := ref.Add(-30 * day)
	r.clock = func() time.Time { at = at.Add(day); return at }
	r.quiet = true
	defer func() { r.quiet, r.clock = false, clock }()
	for i, p := range demoReportPlan {
		at = ref.Add(-30 * day)
		d := r.demo[i%len(r.demo)]
		rep := client.Report{
			ReporterKind: p.kind, Product: client.ProductKey{GTIN: d.GTIN}, Kind: client.ReportCounterfeit,
			Platform: "Demo Mall", Description: "示例举报 / A demo report",
		}
		if p.kind == client.ReporterRightsHolder {
			rep.ListingIDs = []string{fmt.Sprintf("demo-listing-%d", i+1)}
			rep.EvidenceURLs = []string{"https://evidence.example/demo/" + fmt.Sprint(i+1)}
		} else {
			rep.ListingURL = fmt.Sprintf("https://shop.example/item/demo-%d", i+1)
		}
		filed, _, _ := r.fileReportLocked(anyKey, "", 0, rep)
		r.filed--
		for s := 0; s < p.steps; s++ {
			adv := ReportAdvance{}
			if s == 2 {
				adv.Outcome = p.outcome
			}
			if _, err := r.advanceReportLocked(filed.ID, adv); err != nil {
				panic("sandbox: demo report: " + err.Error()) // the plan is fixed: a failure is a bug here
			}
		}
	}
}

// DemoReports lists the demo reports, one per lifecycle stage and
// outcome, with their tokens.
func (s *Sandbox) DemoReports() []DemoReport {
	r := s.reg
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []DemoReport
	for _, id := range r.order {
		st := r.reports[id]
		if st.owner != anyKey {
			continue
		}
		out = append(out, DemoReport{ID: id, Token: client.ReportToken(st.token), ReporterKind: st.rep.ReporterKind, Status: st.rep.Status, Outcome: st.rep.Outcome})
	}
	return out
}

// --- handlers -------------------------------------------------------------------

const (
	maxClueBody     = 1 << 20
	maxListingIDs   = 100
	maxEvidenceURLs = 20
)

func (s *Sandbox) createReport(b *buffer, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !idem.ValidKey(key) {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "Idempotency-Key must be 1 to 255 visible ASCII characters", client.ProblemField{Field: "Idempotency-Key", Message: "malformed"})
		return
	}
	var p client.ReportParams
	if !readJSON(b, r, maxReportBody, &p) {
		return
	}
	// Problem fields are JSON pointers into the body.
	var fields []client.ProblemField
	k, prob := s.resolveKey(p.Product, "/product", b.reqID)
	if prob != nil {
		fields = append(fields, prob.Errors...)
	}
	if f := checkText("kind", string(p.Kind), 1, 32); f != nil {
		fields = append(fields, client.ProblemField{Field: "/kind", Message: f.Message})
	}
	if u, err := url.Parse(p.ListingURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.ListingURL) > 2048 {
		fields = append(fields, client.ProblemField{Field: "/listing_url", Message: "listing_url must be an http(s) URL of at most 2048 bytes"})
	}
	for _, f := range []*client.ProblemField{
		checkText("platform", p.Platform, 1, 100),
		checkText("description", p.Description, 1, 4000),
		checkText("contact", p.Contact, 0, 200),
	} {
		if f != nil {
			fields = append(fields, client.ProblemField{Field: "/" + f.Field, Message: f.Message})
		}
	}
	switch {
	case prob != nil && len(fields) == len(prob.Errors):
		// Only the product key is wrong: the contract answers the key's
		// own code (invalid_gtin, invalid_uscc, invalid_parameter).
		b.problem(http.StatusBadRequest, prob.Code, prob.Detail, fields...)
		return
	case len(fields) > 0:
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "the report has invalid fields", fields...)
		return
	}
	p.Product = k
	h := bodyHash(p) // the kind as sent: another unknown kind is another body
	switch p.Kind {
	case client.ReportCounterfeit, client.ReportSubstandard, client.ReportFalseClaim, client.ReportOther:
	default:
		p.Kind = client.ReportOther // kinds are an open set: one this server does not know is filed as other
	}
	auth := s.scope(r)
	s.reg.mu.Lock()
	// The contact reaches the regulator with the lead; it is never
	// answered back, nor put on the feed.
	rep, replay, err := s.reg.fileReportLocked(auth, key, h, client.Report{
		ReporterKind: client.ReporterConsumer, Product: p.Product, Kind: p.Kind, ListingURL: p.ListingURL,
		Platform: p.Platform, Description: p.Description,
	})
	s.reg.mu.Unlock()
	if err != nil {
		b.problem(http.StatusConflict, client.CodeIdempotencyConflict, "this Idempotency-Key was used with another report")
		return
	}
	status := http.StatusCreated
	if replay {
		status = http.StatusOK
		b.header.Set("Idempotent-Replayed", "true")
	}
	b.header.Set("Location", "/v1/reports/"+rep.ID)
	b.json(status, ccNoStore, rep)
}

func bodyHash(v any) uint64 {
	canon, _ := json.Marshal(v)
	h := fnv.New64a()
	h.Write(canon)
	return h.Sum64()
}

// getReport answers a report to whoever sends its token. No token, a
// wrong one and an unknown id are one answer, 404 not_found, with the same
// words; and every lookup, right or wrong, spends the key's lookup quota.
func (s *Sandbox) getReport(b *buffer, r *http.Request) {
	id, ok := checkRecordID(b, r, "rpt_")
	if !ok {
		return
	}
	auth, _ := s.authenticate(r)
	if !s.lookups.allow(limitKey(auth, r), http.Header{}) {
		b.header.Set("Retry-After", "1")
		b.problem(http.StatusTooManyRequests, client.CodeRateLimited, "too many report lookups; retry after the time in Retry-After")
		return
	}
	rep, found := s.reg.reportWithToken(id, r.Header.Get(client.ReportTokenHeader))
	if !found {
		b.problem(http.StatusNotFound, client.CodeNotFound, "no report has this id and token")
		return
	}
	b.json(http.StatusOK, ccNoStore, rep)
}

func (s *Sandbox) listReports(b *buffer, r *http.Request) {
	q := r.URL.Query()
	status, kind := client.ReportStatus(q.Get("status")), client.ReporterKind(q.Get("reporter_kind"))
	if _, ok := reportOrder[status]; status != "" && !ok {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "status must be received, forwarded, under_investigation or closed", client.ProblemField{Field: "status", Message: "unknown value"})
		return
	}
	if kind != "" && kind != client.ReporterConsumer && kind != client.ReporterRightsHolder {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "reporter_kind must be consumer or rights_holder", client.ProblemField{Field: "reporter_kind", Message: "unknown value"})
		return
	}
	filters := url.Values{}
	if status != "" {
		filters.Set("status", string(status))
	}
	if kind != "" {
		filters.Set("reporter_kind", string(kind))
	}
	from, limit, ok := pageParams(b, r, "rpt", filters)
	if !ok {
		return
	}
	auth := s.scope(r)
	items, next := s.reg.reportsOf(auth, status, kind, from, limit)
	out := client.List[client.Report]{Data: items}
	if next >= 0 {
		out.NextCursor = encodeListCursor("rpt", filters, next)
	}
	b.json(http.StatusOK, ccNoStore, out) // a platform's own reports: for it alone
}

// clueBatch is the body of POST /v1/reports/batch, decoded loosely so
// that one malformed clue fails alone.
type clueBatch struct {
	RightsHolder  string            `json:"rights_holder"`
	Platform      string            `json:"platform"`
	EvidenceHosts []string          `json:"evidence_hosts"`
	Clues         []json.RawMessage `json:"clues"`
}

func (s *Sandbox) createClues(b *buffer, r *http.Request) {
	var req clueBatch
	if !readJSON(b, r, maxClueBody, &req) {
		return
	}
	var fields []client.ProblemField
	for _, f := range []*client.ProblemField{checkText("rights_holder", req.RightsHolder, 1, 200), checkText("platform", req.Platform, 1, 100)} {
		if f != nil {
			fields = append(fields, client.ProblemField{Field: "/" + f.Field, Message: f.Message})
		}
	}
	if len(req.EvidenceHosts) > 100 {
		fields = append(fields, client.ProblemField{Field: "/evidence_hosts", Message: "at most 100 hosts"})
	}
	for i, h := range req.EvidenceHosts {
		if h == "" || len(h) > 253 || strings.ContainsAny(h, ":/@ ") || strings.ToLower(h) != h {
			fields = append(fields, client.ProblemField{Field: fmt.Sprintf("/evidence_hosts/%d", i), Message: "a host is a lower-case host name without port"})
		}
	}
	switch {
	case len(req.Clues) > client.MaxClues:
		b.problem(http.StatusBadRequest, client.CodeTooManyKeys, fmt.Sprintf("a batch takes at most %d clues, not %d", client.MaxClues, len(req.Clues)), client.ProblemField{Field: "/clues", Message: "too many"})
		return
	case len(req.Clues) == 0:
		fields = append(fields, client.ProblemField{Field: "/clues", Message: "at least one clue"})
	}
	if len(fields) > 0 {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "the batch has invalid fields", fields...)
		return
	}
	auth := s.scope(r)
	results := make([]client.ClueResult, len(req.Clues))
	seen := map[string]int{}
	for i, raw := range req.Clues {
		results[i] = s.fileClue(b.reqID, auth, i, raw, &req, seen)
	}
	b.json(http.StatusOK, ccNoStore, struct {
		Results []client.ClueResult `json:"results"`
	}{results})
}

// fileClue checks and files one clue of a batch. Its problem's fields are
// JSON pointers into the clue.
func (s *Sandbox) fileClue(reqID, scope string, i int, raw json.RawMessage, req *clueBatch, seen map[string]int) client.ClueResult {
	fail := func(status int, code, detail string, fields ...client.ProblemField) client.ClueResult {
		p := newProblem(status, code, detail, reqID)
		p.Errors = fields
		return client.ClueResult{Index: i, Status: client.ClueFailed, Problem: p}
	}
	var c client.ClueParams
	if err := json.Unmarshal(raw, &c); err != nil {
		return fail(http.StatusBadRequest, client.CodeInvalidBody, "the clue is not the JSON this route takes: "+jsonErr(err))
	}
	if !idem.ValidKey(c.IdempotencyKey) {
		return fail(http.StatusBadRequest, client.CodeInvalidBody, "every clue needs an idempotency_key of 1 to 255 visible ASCII characters",
			client.ProblemField{Field: "/idempotency_key", Message: "missing or malformed"})
	}
	if j, dup := seen[c.IdempotencyKey]; dup {
		return fail(http.StatusConflict, client.CodeDuplicateInBatch, fmt.Sprintf("clue %d of this batch has the same idempotency_key", j),
			client.ProblemField{Field: "/idempotency_key", Message: "duplicate"})
	}
	seen[c.IdempotencyKey] = i
	var fields []client.ProblemField
	k, prob := s.resolveKey(c.Product, "/product", reqID)
	if prob != nil {
		fields = append(fields, prob.Errors...)
	}
	if f := checkText("kind", string(c.Kind), 1, 32); f != nil {
		fields = append(fields, client.ProblemField{Field: "/kind", Message: f.Message})
	}
	if f := checkText("description", c.Description, 1, 4000); f != nil {
		fields = append(fields, client.ProblemField{Field: "/description", Message: f.Message})
	}
	if n := len(c.ListingIDs); n == 0 || n > maxListingIDs {
		fields = append(fields, client.ProblemField{Field: "/listing_ids", Message: fmt.Sprintf("1 to %d listing ids", maxListingIDs)})
	}
	for j, id := range c.ListingIDs {
		if f := checkText("listing id", id, 1, 128); f != nil {
			fields = append(fields, client.ProblemField{Field: fmt.Sprintf("/listing_ids/%d", j), Message: f.Message})
		}
	}
	if n := len(c.EvidenceURLs); n == 0 || n > maxEvidenceURLs {
		fields = append(fields, client.ProblemField{Field: "/evidence_urls", Message: fmt.Sprintf("1 to %d evidence links", maxEvidenceURLs)})
	}
	for j, link := range c.EvidenceURLs {
		if msg := evidenceProblem(link, req.EvidenceHosts); msg != "" {
			fields = append(fields, client.ProblemField{Field: fmt.Sprintf("/evidence_urls/%d", j), Message: msg})
		}
	}
	if len(fields) > 0 {
		code := client.CodeInvalidBody
		if prob != nil && len(fields) == len(prob.Errors) {
			code = prob.Code
		}
		return fail(http.StatusBadRequest, code, "the clue has invalid fields", fields...)
	}
	c.Product = k
	h := bodyHash(struct {
		C    client.ClueParams
		R, P string
	}{c, req.RightsHolder, req.Platform})
	switch c.Kind {
	case client.ReportCounterfeit, client.ReportSubstandard, client.ReportFalseClaim, client.ReportOther:
	default:
		c.Kind = client.ReportOther
	}
	s.reg.mu.Lock()
	rep, replay, err := s.reg.fileReportLocked(scope, "clue\x00"+c.IdempotencyKey, h, client.Report{
		ReporterKind: client.ReporterRightsHolder, Product: c.Product, Kind: c.Kind,
		ListingIDs: c.ListingIDs, EvidenceURLs: c.EvidenceURLs, Platform: req.Platform, Description: c.Description,
	})
	s.reg.mu.Unlock()
	if err != nil {
		return fail(http.StatusConflict, client.CodeIdempotencyConflict, "this idempotency_key was used with another clue",
			client.ProblemField{Field: "/idempotency_key", Message: "used with another clue"})
	}
	status := client.ClueCreated
	if replay {
		status = client.ClueReplayed
	}
	return client.ClueResult{Index: i, Status: status, Report: &rep}
}

// evidenceProblem says what is wrong with an evidence link, or "": https
// only, a host, no user info, and one of hosts when hosts are given.
func evidenceProblem(link string, hosts []string) string {
	u, err := url.Parse(link)
	switch {
	case err != nil || len(link) > 2048:
		return "not a URL of at most 2048 bytes"
	case u.Scheme != "https" || u.Host == "" || u.User != nil:
		return "evidence links must be https URLs with a host and no user info"
	case len(hosts) > 0 && !slices.Contains(hosts, strings.ToLower(u.Hostname())):
		return "the host " + u.Hostname() + " is not one of evidence_hosts"
	}
	return ""
}

func (s *Sandbox) opAdvanceReport(b *buffer, r *http.Request) {
	var adv ReportAdvance
	if r.ContentLength != 0 && !readJSON(b, r, maxReportBody, &adv) {
		return
	}
	rep, err := s.reg.advanceReport(r.PathValue("id"), adv)
	if errors.Is(err, ErrReportStep) {
		b.problem(http.StatusConflict, client.CodeInvalidBody, err.Error())
		return
	}
	if s.opError(b, err) {
		return
	}
	b.json(http.StatusOK, ccNoStore, rep)
}

func (s *Sandbox) opDemoReports(b *buffer, r *http.Request) {
	demo := s.DemoReports()
	out := make([]demoReportJSON, len(demo))
	for i, d := range demo {
		out[i] = demoReportJSON{d, string(d.Token)}
	}
	b.json(http.StatusOK, ccNoStore, map[string]any{"reports": out})
}
