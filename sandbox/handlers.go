package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qualitycommit/qcsdk/client"
)

// Cache-Control policies. A listed product's status is the answer a page
// needs most; it may be reused for five minutes, and a day when the API is
// down. "Not listed" changes when a maker joins, so it is reused less long.
const (
	ccListed    = "public, max-age=300, stale-while-revalidate=60, stale-if-error=86400"
	ccNotListed = "public, max-age=60, stale-if-error=86400"
	ccRecord    = "public, max-age=300, stale-if-error=86400"
	ccList      = "public, max-age=60"
	ccNoStore   = "no-store"
)

// Request body limits.
const (
	maxBatchBody  = 64 << 10
	maxReportBody = 16 << 10
)

// --- products ------------------------------------------------------------------

func statusCache(st client.ProductStatus) string {
	if st.Listed {
		return ccListed
	}
	return ccNotListed
}

func (s *Sandbox) productByGTIN(b *buffer, r *http.Request) {
	g, err := client.ParseGTIN(r.PathValue("gtin"))
	if err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidGTIN, err.Error(), client.ProblemField{Field: "gtin", Message: err.Error()})
		return
	}
	from, ok := logSizeParam(b, r)
	if !ok {
		return
	}
	s.answerStatus(b, r, s.reg.statusByGTIN(g), from)
}

// logSizeParam reads the optional log_size, the size of the latest
// checkpoint the reader verified, answering 400 invalid_parameter when it
// is not a whole number from 0.
func logSizeParam(b *buffer, r *http.Request) (int64, bool) {
	if !r.URL.Query().Has("log_size") {
		return 0, true
	}
	return logParam(b, r, "log_size")
}

// answerStatus answers a product status with its proof. The ETag is the
// status's alone: the proof's checkpoint moves with every change to the
// registry, and a copy whose status has not changed is still current, its
// proof still valid against the checkpoint it came with.
func (s *Sandbox) answerStatus(b *buffer, r *http.Request, st client.ProductStatus, from int64) {
	b.json(http.StatusOK, statusCache(st), st)
	sum := fnv.New64a()
	sum.Write(b.body.Bytes())
	b.header.Set("ETag", fmt.Sprintf(`"%016x"`, sum.Sum64()))
	signed, cons, err := s.log.proveStatuses(s.scope(r), []*client.ProductStatus{&st}, from)
	if err != nil {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "the log could not prove the answer")
		return
	}
	if st.Proof == nil {
		return
	}
	st.Proof.Checkpoint, st.Proof.Consistency = string(signed), cons
	// The proof is the status's last field: it is appended to the body
	// already encoded, as encoding/json would write it, rather than the
	// whole status encoded again.
	var p bytes.Buffer
	enc := json.NewEncoder(&p)
	enc.SetEscapeHTML(false)
	body := b.body.Bytes()
	if err := enc.Encode(st.Proof); err != nil || !bytes.HasSuffix(body, []byte("}\n")) {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "encoding the answer failed")
		return
	}
	b.body.Truncate(len(body) - 2)
	b.body.WriteString(`,"proof":`)
	b.body.Write(bytes.TrimSuffix(p.Bytes(), []byte("\n")))
	b.body.WriteString("}\n")
}

func (s *Sandbox) productLookup(b *buffer, r *http.Request) {
	q := r.URL.Query()
	raw := q.Get("uscc")
	if raw == "" {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "uscc is required", client.ProblemField{Field: "uscc", Message: "required"})
		return
	}
	u, err := client.ParseUSCC(raw)
	if err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidUSCC, err.Error(), client.ProblemField{Field: "uscc", Message: err.Error()})
		return
	}
	brand, model := q.Get("brand"), q.Get("model")
	if f := checkText("brand", brand, 1, 100); f != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, f.Message, *f)
		return
	}
	if f := checkText("model", model, 0, 100); f != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, f.Message, *f)
		return
	}
	from, ok := logSizeParam(b, r)
	if !ok {
		return
	}
	s.answerStatus(b, r, s.reg.statusByKey(u, brand, model), from)
}

// checkText says what is wrong with a text field, or nil.
func checkText(field, v string, minRunes, maxRunes int) *client.ProblemField {
	if !utf8.ValidString(v) {
		return &client.ProblemField{Field: field, Message: field + " is not valid UTF-8"}
	}
	n := utf8.RuneCountInString(v)
	if n < minRunes {
		if minRunes == 1 {
			return &client.ProblemField{Field: field, Message: field + " is required"}
		}
		return &client.ProblemField{Field: field, Message: field + " is shorter than " + strconv.Itoa(minRunes) + " characters"}
	}
	if n > maxRunes {
		return &client.ProblemField{Field: field, Message: field + " is longer than " + strconv.Itoa(maxRunes) + " characters"}
	}
	return nil
}

// resolveKey validates a product key from a request body and answers its
// status, or a problem for that key. pointer is the key's JSON pointer in
// the body ("/keys/3", "/product"); the problem's fields are pointers too.
func (s *Sandbox) resolveKey(k client.ProductKey, pointer, reqID string) (client.ProductKey, *client.Problem) {
	bad := func(code, field, msg string) (client.ProductKey, *client.Problem) {
		p := newProblem(http.StatusBadRequest, code, msg, reqID)
		p.Errors = []client.ProblemField{{Field: pointer + field, Message: msg}}
		return k, p
	}
	switch {
	case k.GTIN != "" && (k.USCC != "" || k.Brand != "" || k.Model != ""):
		return bad(client.CodeInvalidParameter, "", "a key is either a gtin or a uscc with a brand, not both")
	case k.GTIN != "":
		g, err := client.ParseGTIN(string(k.GTIN))
		if err != nil {
			return bad(client.CodeInvalidGTIN, "/gtin", err.Error())
		}
		return client.ProductKey{GTIN: g}, nil
	case k.USCC != "":
		u, err := client.ParseUSCC(string(k.USCC))
		if err != nil {
			return bad(client.CodeInvalidUSCC, "/uscc", err.Error())
		}
		if f := checkText("brand", k.Brand, 1, 100); f != nil {
			return bad(client.CodeInvalidParameter, "/brand", f.Message)
		}
		if f := checkText("model", k.Model, 0, 100); f != nil {
			return bad(client.CodeInvalidParameter, "/model", f.Message)
		}
		return client.ProductKey{USCC: u, Brand: k.Brand, Model: k.Model}, nil
	default:
		return bad(client.CodeInvalidParameter, "", "a key needs a gtin, or a uscc with a brand")
	}
}

func (s *Sandbox) statusOf(k client.ProductKey) client.ProductStatus {
	if k.GTIN != "" {
		return s.reg.statusByGTIN(k.GTIN)
	}
	return s.reg.statusByKey(k.USCC, k.Brand, k.Model)
}

// readJSON reads a request body of at most limit bytes into v, answering
// the problem itself when it cannot.
func readJSON(b *buffer, r *http.Request, limit int64, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		b.problem(http.StatusUnsupportedMediaType, client.CodeUnsupportedMediaType, "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "reading the body failed")
		return false
	}
	if int64(len(body)) > limit {
		// Read on (within reason) before answering, so that a client still
		// sending is not cut off by a reset and gets to read the 413.
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		b.problem(http.StatusRequestEntityTooLarge, client.CodePayloadTooLarge, "the body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	// Unknown properties are ignored, as the contract's schemas allow: a
	// client newer than this server may send fields it does not know yet.
	if err := dec.Decode(v); err != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "the body is not the JSON this route takes: "+jsonErr(err))
		return false
	}
	if dec.More() {
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "the body has data after its JSON value")
		return false
	}
	return true
}

// jsonErr describes a decoding error without echoing the body.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " must be " + te.Type.String()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends early"
	}
	return "malformed JSON"
}

func (s *Sandbox) productBatch(b *buffer, r *http.Request) {
	from, ok := logSizeParam(b, r)
	if !ok {
		return
	}
	var req client.BatchRequest
	if !readJSON(b, r, maxBatchBody, &req) {
		return
	}
	switch {
	case len(req.Keys) == 0:
		b.problem(http.StatusBadRequest, client.CodeInvalidBody, "keys must hold at least one product key", client.ProblemField{Field: "/keys", Message: "empty"})
		return
	case len(req.Keys) > client.MaxBatchKeys:
		b.problem(http.StatusBadRequest, client.CodeTooManyKeys, "a batch holds at most 100 keys; split it", client.ProblemField{Field: "/keys", Message: strconv.Itoa(len(req.Keys)) + " keys"})
		return
	}
	out := client.BatchResponse{Data: make([]client.BatchResult, len(req.Keys))}
	sts := make([]*client.ProductStatus, 0, len(req.Keys))
	for i, k := range req.Keys {
		key, p := s.resolveKey(k, "/keys/"+strconv.Itoa(i), b.reqID)
		if p != nil {
			out.Data[i] = client.BatchResult{Key: k, AsOf: b.asOf, Error: p}
			continue
		}
		st := s.statusOf(key)
		out.Data[i] = client.BatchResult{Key: key, AsOf: b.asOf, Status: &st}
		sts = append(sts, &st)
	}
	// One checkpoint for the whole answer; each status's proof leads to it.
	signed, cons, err := s.log.proveStatuses(s.scope(r), sts, from)
	if err != nil {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "the log could not prove the answer")
		return
	}
	out.Checkpoint, out.Consistency = string(signed), cons
	b.json(http.StatusOK, ccNoStore, out)
}

// --- pagination ------------------------------------------------------------------

// A list cursor names the position after the last item served and the
// filters it was served for, so a cursor cannot be replayed with other
// filters.
func encodeListCursor(kind string, filters url.Values, next int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + filterHash(filters) + ":" + strconv.Itoa(next)))
}

func decodeListCursor(kind string, filters url.Values, c string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != kind || parts[1] != filterHash(filters) {
		return 0, false
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func filterHash(filters url.Values) string {
	h := fnv.New32a()
	h.Write([]byte(filters.Encode())) // Encode sorts by key
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// pageParams reads limit and cursor for a list of kind.
func pageParams(b *buffer, r *http.Request, kind string, filters url.Values) (from, limit int, ok bool) {
	q := r.URL.Query()
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "limit must be a whole number from 1 to 100", client.ProblemField{Field: "limit", Message: "out of range"})
			return 0, 0, false
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		n, ok := decodeListCursor(kind, filters, c)
		if !ok {
			b.problem(http.StatusBadRequest, client.CodeInvalidCursor, "the cursor was not issued for this list and these filters", client.ProblemField{Field: "cursor", Message: "not recognised"})
			return 0, 0, false
		}
		from = n
	}
	return from, limit, true
}

func answerPage[T any](b *buffer, kind string, filters url.Values, items []T, next int) {
	out := client.List[T]{Data: items}
	if next >= 0 {
		out.NextCursor = encodeListCursor(kind, filters, next)
	}
	b.json(http.StatusOK, ccList, out)
}

// --- enterprises, commitments, inspections, cases, categories ---------------------

// regionPattern is the region parameter's pattern in api/openapi.yaml.
var regionPattern = regexp.MustCompile(`^[0-9]{2}([0-9]{2}){0,2}$`)

func (s *Sandbox) listEnterprises(b *buffer, r *http.Request) {
	q := r.URL.Query()
	filters := url.Values{}
	category, region, text := q.Get("category"), q.Get("region"), q.Get("q")
	if q.Has("region") {
		if !regionPattern.MatchString(region) {
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "region must be a GB/T 2260 code of 6 digits, or its 2- or 4-digit prefix", client.ProblemField{Field: "region", Message: "not a region code"})
			return
		}
		// "330000" and "3300" mean all of Zhejiang, as "33" does.
		for len(region) > 2 && strings.HasSuffix(region, "00") {
			region = region[:len(region)-2]
		}
		filters.Set("region", region)
	}
	if f := checkText("q", text, 0, 100); f != nil {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, f.Message, *f)
		return
	}
	if category != "" {
		filters.Set("category", category)
	}
	needle := strings.ToLower(text)
	if needle != "" {
		filters.Set("q", needle)
	}
	from, limit, ok := pageParams(b, r, "ent", filters)
	if !ok {
		return
	}
	items, next := scan(s.reg, func() []*enterpriseData { return s.reg.ents }, from, limit, func(d *enterpriseData) bool {
		if d.delisted {
			return false
		}
		if category != "" && !contains(d.ent.Categories, category) {
			return false
		}
		if region != "" && !strings.HasPrefix(d.ent.RegionCode, region) {
			return false
		}
		if needle != "" && !strings.Contains(d.ent.Name.ZH, text) && !strings.Contains(strings.ToLower(d.ent.Name.EN), needle) &&
			!strings.Contains(strings.ToLower(string(d.ent.USCC)), needle) { // the contract matches q against the USCC too
			return false
		}
		return true
	})
	out := make([]*client.Enterprise, len(items))
	for i, d := range items {
		out[i] = d.ent
	}
	answerPage(b, "ent", filters, out, next)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// recordID reports whether id can name a record whose ids start with
// prefix: the contract's id patterns are the prefix and 1 to 64 of
// [0-9A-Za-z_-].
func recordID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) == 0 || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkRecordID returns the {id} path value, or answers 400
// invalid_parameter when it cannot be an id of that kind: a malformed id is
// a malformed request, not an unknown record.
func checkRecordID(b *buffer, r *http.Request, prefix string) (string, bool) {
	id := r.PathValue("id")
	if !recordID(prefix, id) {
		msg := "id must be " + prefix + " followed by 1 to 64 letters, digits, _ or -"
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, msg, client.ProblemField{Field: "id", Message: msg})
		return "", false
	}
	return id, true
}

// findEnterprise answers the enterprise named by the {id} path value (an id
// or a USCC), or a problem.
func (s *Sandbox) findEnterprise(b *buffer, r *http.Request) (*enterpriseData, int, bool) {
	id := r.PathValue("id")
	switch {
	case strings.HasPrefix(id, "ent_"):
		if _, ok := checkRecordID(b, r, "ent_"); !ok {
			return nil, 0, false
		}
	default:
		// What is not a registry id names the maker by its USCC, as the
		// client reads it: a malformed one is invalid_uscc, its length
		// included, as everywhere else a USCC is taken.
		if _, err := client.ParseUSCC(id); err != nil {
			b.problem(http.StatusBadRequest, client.CodeInvalidUSCC, err.Error(), client.ProblemField{Field: "id", Message: err.Error()})
			return nil, 0, false
		}
	}
	d, e, ok := s.reg.enterprise(id)
	if !ok {
		b.problem(http.StatusNotFound, client.CodeNotFound, "no enterprise on the list has this id or USCC")
		return nil, 0, false
	}
	return d, e, true
}

func (s *Sandbox) getEnterprise(b *buffer, r *http.Request) {
	if d, _, ok := s.findEnterprise(b, r); ok {
		b.json(http.StatusOK, ccRecord, d.ent)
	}
}

func (s *Sandbox) listCommitments(b *buffer, r *http.Request) {
	d, _, ok := s.findEnterprise(b, r)
	if !ok {
		return
	}
	filters := url.Values{"enterprise": {d.ent.ID}}
	from, limit, ok := pageParams(b, r, "cmt", filters)
	if !ok {
		return
	}
	items, next := scan(s.reg, func() []*client.Commitment { return d.commitments }, from, limit, func(*client.Commitment) bool { return true })
	answerPage(b, "cmt", filters, items, next)
}

// getRecord answers GET of one record by its {id}: 400 for an id that
// breaks its pattern, 404 for one nobody has.
func getRecord[T any](b *buffer, r *http.Request, prefix, what, cacheControl string, find func(id string) (T, bool)) {
	id, ok := checkRecordID(b, r, prefix)
	if !ok {
		return
	}
	rec, ok := find(id)
	if !ok {
		b.problem(http.StatusNotFound, client.CodeNotFound, "no "+what+" has this id")
		return
	}
	b.json(http.StatusOK, cacheControl, rec)
}

func (s *Sandbox) getCommitment(b *buffer, r *http.Request) {
	getRecord(b, r, "cmt_", "commitment", ccRecord, s.reg.commitment)
}

func (s *Sandbox) listInspections(b *buffer, r *http.Request) {
	q := r.URL.Query()
	filters := url.Values{}
	entID := ""
	if v := q.Get("enterprise"); v != "" {
		entID = v
		if !strings.HasPrefix(v, "ent_") {
			u, err := client.ParseUSCC(v)
			if err != nil {
				b.problem(http.StatusBadRequest, client.CodeInvalidUSCC, err.Error(), client.ProblemField{Field: "enterprise", Message: err.Error()})
				return
			}
			entID = "-" // a USCC nobody has matches nothing
			if d, _, ok := s.reg.enterprise(string(u)); ok {
				entID = d.ent.ID
			}
		}
		filters.Set("enterprise", entID)
	}
	category, result := q.Get("category"), q.Get("result")
	if category != "" {
		filters.Set("category", category)
	}
	if result != "" {
		filters.Set("result", result)
	}
	var since time.Time
	if v := q.Get("published_since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t, err = time.Parse(time.DateOnly, v)
		}
		if err != nil {
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "published_since must be an RFC 3339 time or a date (2006-01-02)", client.ProblemField{Field: "published_since", Message: "not a time"})
			return
		}
		since = t
		filters.Set("published_since", t.UTC().Format(time.RFC3339))
	}
	from, limit, ok := pageParams(b, r, "ins", filters)
	if !ok {
		return
	}
	items, next := scanNewest(s.reg, func() []*client.Inspection { return s.reg.inspByDate }, from, limit, func(in *client.Inspection) bool {
		return (entID == "" || in.EnterpriseID == entID) &&
			(category == "" || in.Category == category) &&
			(result == "" || string(in.Result) == result) &&
			(since.IsZero() || !in.PublishedAt.Before(since))
	})
	answerPage(b, "ins", filters, items, next)
}

func (s *Sandbox) getInspection(b *buffer, r *http.Request) {
	getRecord(b, r, "ins_", "inspection", ccRecord, s.reg.inspection)
}

func (s *Sandbox) listCases(b *buffer, r *http.Request) {
	q := r.URL.Query()
	filters := url.Values{}
	category, brand := q.Get("category"), q.Get("brand")
	if category != "" {
		filters.Set("category", category)
	}
	if brand != "" {
		filters.Set("brand", brand)
	}
	from, limit, ok := pageParams(b, r, "case", filters)
	if !ok {
		return
	}
	items, next := scanNewest(s.reg, func() []*client.Case { return s.reg.casesByDate }, from, limit, func(c *client.Case) bool {
		return (category == "" || c.Category == category) && (brand == "" || c.Brand == brand)
	})
	answerPage(b, "case", filters, items, next)
}

func (s *Sandbox) getCase(b *buffer, r *http.Request) {
	getRecord(b, r, "case_", "case", ccRecord, s.reg.caseRecord)
}

func (s *Sandbox) listCategories(b *buffer, r *http.Request) {
	b.json(http.StatusOK, ccRecord, client.List[*client.Category]{Data: s.reg.categories()})
}

// --- change feed -------------------------------------------------------------------

func encodeEventCursor(seq int64) string {
	return "c" + strconv.FormatInt(seq, 36)
}

func decodeEventCursor(c string) (int64, bool) {
	if len(c) < 2 || c[0] != 'c' {
		return 0, false
	}
	n, err := strconv.ParseInt(c[1:], 36, 64)
	return n, err == nil && n >= 0
}

func (s *Sandbox) changes(b *buffer, r *http.Request) {
	q := r.URL.Query()
	after := int64(fromStart)
	if c := q.Get("after"); c != "" {
		n, ok := decodeEventCursor(c)
		if !ok {
			b.problem(http.StatusBadRequest, client.CodeInvalidCursor, "after is not a cursor this feed issued", client.ProblemField{Field: "after", Message: "not recognised"})
			return
		}
		after = n
	}
	head := false
	if q.Has("from") {
		switch from := q.Get("from"); {
		case after != fromStart:
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "from and after cannot be used together: after already says where to read from", client.ProblemField{Field: "from", Message: "not allowed with after"})
			return
		case from == "head":
			head = true
		case from != "start":
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "from must be start or head", client.ProblemField{Field: "from", Message: "unknown value"})
			return
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "limit must be a whole number from 1 to 1000", client.ProblemField{Field: "limit", Message: "out of range"})
			return
		}
		limit = n
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "s"))
		if err != nil || n < 0 || n > 60 {
			b.problem(http.StatusBadRequest, client.CodeInvalidParameter, "wait must be 0 to 60 seconds, as \"30\" or \"30s\"", client.ProblemField{Field: "wait", Message: "out of range"})
			return
		}
		wait = min(time.Duration(n)*time.Second, s.cfg.maxWait)
	}
	if head {
		// At once, whatever wait says: the caller wants a position, not events.
		b.json(http.StatusOK, ccNoStore, client.ChangePage{Data: []client.Event{}, NextCursor: encodeEventCursor(s.reg.head())})
		return
	}

	scope := s.scope(r) // report events are their filer's alone
	read, err := s.reg.eventsAfter(after, limit, scope)
	if err == nil && len(read.events) == 0 && wait > 0 {
		t := time.NewTimer(wait)
	poll:
		// Another platform's report event wakes the poll but is not
		// this reader's: it waits on for one of its own.
		for err == nil && len(read.events) == 0 {
			if s.cfg.logger != nil {
				s.cfg.logger.Debug("sandbox long poll waits", "path", r.URL.Path, "request_id", b.reqID)
			}
			select {
			case <-read.changed:
				// Read again as asked, not from read.pos: events may have been
				// dropped meanwhile, and an expired cursor must say so.
				read, err = s.reg.eventsAfter(after, limit, scope)
			case <-t.C:
				break poll
			case <-r.Context().Done():
				break poll
			case <-s.done:
				break poll
			}
		}
		t.Stop()
	}
	switch {
	case errors.Is(err, errCursorAhead):
		b.problem(http.StatusBadRequest, client.CodeInvalidCursor, "after is ahead of the feed; was it issued by another server?", client.ProblemField{Field: "after", Message: "ahead of the feed"})
		return
	case errors.Is(err, errCursorExpired):
		b.problem(http.StatusBadRequest, client.CodeInvalidCursor, "after has expired: it is older than the oldest event the feed retains, so reading on from it would skip events; mark what you hold stale and read on from from=head", client.ProblemField{Field: "after", Message: "expired"})
		return
	case err != nil:
		b.problem(http.StatusInternalServerError, client.CodeInternal, "reading the change feed failed")
		return
	}
	page := client.ChangePage{Data: read.events, NextCursor: encodeEventCursor(read.pos), HasMore: read.more}
	if len(read.events) > 0 {
		page.NextCursor = read.events[len(read.events)-1].Cursor
	}
	b.json(http.StatusOK, ccNoStore, page)
}
