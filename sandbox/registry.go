package sandbox

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// registry is the sandbox's live data: the generated set plus every change
// published since. Records are immutable once stored; a change stores a new
// copy with the next version and appends an event, so a reader holding a
// record never sees it move.
type registry struct {
	mu sync.RWMutex

	ents      []*enterpriseData
	entByID   map[string]int
	entByUSCC map[client.USCC]int
	cmtByID   map[string]cmtLoc
	insp      []*client.Inspection // in id order; ids are assigned in order
	inspByID  map[string]int
	inspByKey map[client.GTIN][]int
	inspByEnt map[int][]int
	cases     []*client.Case
	caseByID  map[string]int
	cats      []*client.Category
	demo      []DemoProduct

	// The lists answer newest published first. These hold the same records
	// oldest published first (ties by id), so that a publish usually
	// appends and list cursors, positions counted from the oldest end, stay
	// valid while the registry grows; the lists walk them backwards.
	inspByDate  []*client.Inspection
	casesByDate []*client.Case

	seq      int64
	events   []seqEvent                          // the retained events, oldest first
	retain   int                                 // most events kept; 0 keeps all
	dropped  int64                               // seq of the newest event dropped (0: none); a cursor before it has expired
	changed  chan struct{}                       // closed and replaced when an event is appended
	onEvent  func(ev client.Event, owner string) // owner: the API key a report event is for, "" for all
	clock    func() time.Time
	verify   string
	hostile  bool
	nextCase int
	quiet    bool // while the data set is built: changes are history, not events

	// The log's changes (log.go): the generated set's, by version, and
	// every change published since, kept when the feed drops it.
	genesis []client.Event
	logged  []client.Event

	reportBook // reports and clues: reports.go
}

type cmtLoc struct{ e, i int }

type seqEvent struct {
	seq   int64
	ev    client.Event
	owner string // a report event's API key (anyKey: every key's); "" for a public event
}

func newRegistry(cfg dataConfig, clock func() time.Time) *registry {
	d := generate(cfg)
	r := &registry{
		ents:      d.ents,
		entByID:   make(map[string]int, len(d.ents)),
		entByUSCC: make(map[client.USCC]int, len(d.ents)),
		cmtByID:   make(map[string]cmtLoc, len(d.ents)*2),
		insp:      d.inspections,
		inspByID:  make(map[string]int, len(d.inspections)),
		inspByKey: make(map[client.GTIN][]int, len(d.inspections)),
		inspByEnt: make(map[int][]int, len(d.inspections)),
		cases:     d.cases,
		caseByID:  make(map[string]int, len(d.cases)),
		cats:      d.cats,
		demo:      d.demo,
		seq:       d.seq,
		changed:   make(chan struct{}),
		clock:     clock,
		verify:    cfg.verifyBase,
		hostile:   cfg.hostile,
		nextCase:  len(d.cases),
		genesis:   genesisChanges(d),
	}
	r.reportBook = newReportBook()
	for e, ed := range d.ents {
		r.entByID[ed.ent.ID] = e
		r.entByUSCC[ed.ent.USCC] = e
		for i, c := range ed.commitments {
			r.cmtByID[c.ID] = cmtLoc{e, i}
		}
	}
	for i, in := range d.inspections {
		r.indexInspection(i, in)
	}
	r.inspByDate = append([]*client.Inspection(nil), d.inspections...)
	sort.SliceStable(r.inspByDate, func(i, j int) bool { return inspBefore(r.inspByDate[i], r.inspByDate[j]) })
	r.casesByDate = append([]*client.Case(nil), d.cases...)
	sort.SliceStable(r.casesByDate, func(i, j int) bool { return caseBefore(r.casesByDate[i], r.casesByDate[j]) })
	for i, c := range d.cases {
		r.caseByID[c.ID] = i
	}
	r.fileDemoReports(cfg.ref)
	return r
}

func (r *registry) indexInspection(i int, in *client.Inspection) {
	r.inspByID[in.ID] = i
	if in.Product.GTIN != "" {
		r.inspByKey[in.Product.GTIN] = append(r.inspByKey[in.Product.GTIN], i)
	}
	e := r.entByID[in.EnterpriseID]
	r.inspByEnt[e] = append(r.inspByEnt[e], i)
}

// decodeGTIN finds which enterprise and item a sandbox GTIN names. Any
// other valid GTIN belongs to a maker that is not on the list.
func decodeGTIN(g client.GTIN) (e, j int, ok bool) {
	s := string(g)
	if len(s) != 14 || s[0] != '0' || s[1:3] != "69" {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(s[3:8])
	it, err2 := strconv.Atoi(s[8:13])
	if err1 != nil || err2 != nil || c < companyBase || it < itemBase {
		return 0, 0, false
	}
	return c - companyBase, it - itemBase, true
}

// statusByGTIN answers the product status for a valid, canonical GTIN.
func (r *registry) statusByGTIN(g client.GTIN) client.ProductStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := client.ProductKey{GTIN: g}
	e, j, ok := decodeGTIN(g)
	if !ok || e >= len(r.ents) {
		return client.ProductStatus{Key: key}
	}
	d := r.ents[e]
	var prod *client.Product
	brand, model := "", ""
	if j < d.products {
		p := productOf(e, j, d)
		prod, brand, model = &p, p.Brand, p.Model
	}
	return r.status(key, e, prod, g, brand, model)
}

// statusByKey answers the product status for a maker's USCC, a brand and
// optionally a model.
func (r *registry) statusByKey(u client.USCC, brand, model string) client.ProductStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := client.ProductKey{USCC: u, Brand: brand, Model: model}
	e, ok := r.entByUSCC[u]
	if !ok {
		return client.ProductStatus{Key: key}
	}
	d := r.ents[e]
	var prod *client.Product
	var gtin client.GTIN
	if code, num, found := strings.Cut(model, "-"); found {
		if n, err := strconv.Atoi(num); err == nil && n >= 1000 && n-1000 < d.products {
			if p := productOf(e, n-1000, d); p.Brand == brand && p.Model == model && strings.HasPrefix(p.Model, code) {
				prod, gtin = &p, p.GTIN
			}
		}
	}
	return r.status(key, e, prod, gtin, brand, model)
}

// status assembles a ProductStatus; the caller holds r.mu.
func (r *registry) status(key client.ProductKey, e int, prod *client.Product, gtin client.GTIN, brand, model string) client.ProductStatus {
	d := r.ents[e]
	st := client.ProductStatus{Key: key}
	if d.delisted {
		st.Version = d.ent.Version
		st.UpdatedAt = d.ent.UpdatedAt
		return st
	}
	st.Listed = true
	st.Product = prod
	st.Enterprise = d.ent
	st.Version, st.UpdatedAt = d.ent.Version, d.ent.UpdatedAt
	st.VerifyURL = d.ent.VerifyURL

	var cmt *client.Commitment
	for _, c := range d.commitments {
		if !c.Scope.Covers(gtin, brand, model) {
			continue
		}
		if prod == nil || c.Category == prod.Category {
			cmt = c
			break
		}
		if cmt == nil {
			cmt = c
		}
	}
	if cmt != nil {
		st.Commitment = cmt
		st.VerifyURL = cmt.VerifyURL
		bump(&st, cmt.Version, cmt.UpdatedAt)
	}

	var idx []int
	if gtin != "" {
		idx = r.inspByKey[gtin]
	} else {
		for _, i := range r.inspByEnt[e] {
			if p := r.insp[i].Product; p.Brand == brand && p.Model == model {
				idx = append(idx, i)
			}
		}
	}
	if len(idx) > 0 {
		ins := make([]client.Inspection, 0, len(idx))
		for _, i := range idx {
			ins = append(ins, *r.insp[i])
		}
		// Newest published first; within one second (the times are to the
		// second) the one published later, which the change sequence
		// orders, so that a burst's latest inspection is not cut off.
		sort.SliceStable(ins, func(a, b int) bool {
			if !ins[a].PublishedAt.Equal(ins[b].PublishedAt) {
				return ins[a].PublishedAt.After(ins[b].PublishedAt)
			}
			return ins[a].Version > ins[b].Version
		})
		if len(ins) > 5 {
			// Keep the newest decided inspection even behind a run of
			// pending ones: without it a failure would drop out of sight.
			decided := -1
			for i, in := range ins {
				if in.Result == client.InspectionPass || in.Result == client.InspectionFail {
					decided = i
					break
				}
			}
			if decided >= 5 {
				ins[4] = ins[decided]
			}
			ins = ins[:5]
		}
		for _, in := range ins {
			bump(&st, in.Version, in.UpdatedAt)
		}
		st.Inspections = ins
	}
	return st
}

func bump(st *client.ProductStatus, v int64, at time.Time) {
	if v > st.Version {
		st.Version = v
	}
	if at.After(st.UpdatedAt) {
		st.UpdatedAt = at
	}
}

func (r *registry) enterprise(idOrUSCC string) (*enterpriseData, int, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entByID[idOrUSCC]
	if !ok {
		if u, err := client.ParseUSCC(idOrUSCC); err == nil {
			e, ok = r.entByUSCC[u]
		}
	}
	if !ok || r.ents[e].delisted {
		return nil, 0, false
	}
	return r.ents[e], e, true
}

func (r *registry) commitment(id string) (*client.Commitment, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	loc, ok := r.cmtByID[id]
	if !ok {
		return nil, false
	}
	return r.ents[loc.e].commitments[loc.i], true
}

func (r *registry) inspection(id string) (*client.Inspection, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, ok := r.inspByID[id]
	if !ok {
		return nil, false
	}
	return r.insp[i], true
}

func (r *registry) caseRecord(id string) (*client.Case, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, ok := r.caseByID[id]
	if !ok {
		return nil, false
	}
	return r.cases[i], true
}

// categories answers every category, ordered by code as the contract says.
func (r *registry) categories() []*client.Category {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := append([]*client.Category(nil), r.cats...)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// scanNewest is scan over items ordered oldest first, walked from the
// newest end: from is how many items, counted from the oldest, remain to be
// walked (0 for all), and so is the next page's start (-1 at the end).
func scanNewest[T any](r *registry, items func() []T, from, limit int, match func(T) bool) ([]T, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	all := items()
	start := len(all)
	if from > 0 {
		start = min(from, len(all))
	}
	out := make([]T, 0, min(limit, 32))
	for i := start - 1; i >= 0; i-- {
		if !match(all[i]) {
			continue
		}
		if len(out) == limit {
			return out, i + 1
		}
		out = append(out, all[i])
	}
	return out, -1
}

func inspBefore(a, b *client.Inspection) bool {
	if !a.PublishedAt.Equal(b.PublishedAt) {
		return a.PublishedAt.Before(b.PublishedAt)
	}
	return a.ID < b.ID
}

func caseBefore(a, b *client.Case) bool {
	if !a.PublishedAt.Equal(b.PublishedAt) {
		return a.PublishedAt.Before(b.PublishedAt)
	}
	return a.ID < b.ID
}

// insertSorted inserts v into list, ordered by before; the caller holds
// r.mu for writing.
func insertSorted[T any](list []T, v T, before func(a, b T) bool) []T {
	i := sort.Search(len(list), func(i int) bool { return before(v, list[i]) })
	list = append(list, v)
	copy(list[i+1:], list[i:])
	list[i] = v
	return list
}

// scan walks items[from:] under the read lock, collecting up to limit that
// match, and says where the next page starts (-1 at the end).
func scan[T any](r *registry, items func() []T, from, limit int, match func(T) bool) ([]T, int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	all := items()
	out := make([]T, 0, min(limit, 32))
	for i := from; i < len(all); i++ {
		if !match(all[i]) {
			continue
		}
		if len(out) == limit {
			return out, i
		}
		out = append(out, all[i])
	}
	return out, -1
}

// --- changes ---------------------------------------------------------------

// publish stores the next version's event and wakes the feed's long polls.
// The caller holds r.mu for writing.
func (r *registry) publishLocked(ev client.Event) client.Event {
	return r.publishForLocked(ev, "")
}

// publishForLocked publishes an event only owner's API key reads (owner
// "" is every reader's). The caller holds r.mu for writing.
func (r *registry) publishForLocked(ev client.Event, owner string) client.Event {
	ev.ID = fmt.Sprintf("evt_%012d", r.seq)
	ev.Seq = r.seq
	ev.Cursor = encodeEventCursor(r.seq)
	// The log holds every position, the quiet history's too. That
	// history's clock moves on each reading, so it is not read for a
	// stamp the log does not hold.
	if r.quiet {
		r.logged = append(r.logged, ev)
		return ev
	}
	ev.OccurredAt = r.clock().UTC().Truncate(time.Millisecond)
	r.logged = append(r.logged, ev)
	r.events = append(r.events, seqEvent{seq: r.seq, ev: ev, owner: owner})
	if r.retain > 0 && len(r.events) > r.retain {
		r.dropLocked(len(r.events) - r.retain)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	if r.onEvent != nil {
		r.onEvent(ev, owner)
	}
	return ev
}

// dropLocked drops the n oldest retained events. The caller holds r.mu for
// writing.
func (r *registry) dropLocked(n int) {
	if n <= 0 {
		return
	}
	r.dropped = r.events[n-1].seq
	clear(r.events[:n]) // the backing array outlives the reslice until append grows it
	r.events = r.events[n:]
}

// expireFeed drops every retained event and reports how many there were.
func (r *registry) expireFeed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.events)
	r.dropLocked(n)
	r.events = nil
	return n
}

// Why a position cannot be read on from.
var (
	errCursorAhead   = errors.New("ahead of the feed")
	errCursorExpired = errors.New("expired")
)

// fromStart asks eventsAfter for the oldest retained event, whatever it is
// when the read happens.
const fromStart = -1

// feedRead is one read of the change feed.
type feedRead struct {
	events  []client.Event
	more    bool            // more events wait past the last one
	pos     int64           // where the read started: the position of an empty answer
	changed <-chan struct{} // closed when the next event is published
}

// eventsAfter returns up to limit events after position seq (fromStart:
// before the oldest retained event) that scope (the reader's API key) may
// read, whether more remain, and a channel that is closed when the next
// event is published. A position past the newest event fails with
// errCursorAhead; one before events that were dropped fails with
// errCursorExpired, so a reader never skips an event unawares. Another
// key's report events are passed over: an empty answer's position moves
// past them.
func (r *registry) eventsAfter(seq int64, limit int, scope string) (feedRead, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case seq == fromStart:
		seq = r.dropped
	case seq > r.seq:
		return feedRead{}, errCursorAhead
	case seq < r.dropped:
		return feedRead{}, errCursorExpired
	}
	i := sort.Search(len(r.events), func(i int) bool { return r.events[i].seq > seq })
	read := feedRead{pos: seq, changed: r.changed}
	for ; i < len(r.events); i++ {
		e := r.events[i]
		if !visibleTo(e.owner, scope) {
			if len(read.events) == 0 {
				read.pos = e.seq
			}
			continue
		}
		if len(read.events) == limit {
			read.more = true
			break
		}
		read.events = append(read.events, e.ev)
	}
	if read.events == nil {
		read.events = []client.Event{}
	}
	return read, nil
}

func (r *registry) head() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seq
}

func (r *registry) setCommitmentStatus(id string, status client.CommitmentStatus, reason *client.Text) (client.Commitment, client.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	loc, ok := r.cmtByID[id]
	if !ok {
		return client.Commitment{}, client.Event{}, fmt.Errorf("commitment %q: %w", id, ErrNotFound)
	}
	now := r.clock().UTC().Truncate(time.Second)
	c := *r.ents[loc.e].commitments[loc.i]
	r.seq++
	c.Status, c.StatusChangedAt, c.StatusReason = status, now, reason
	c.Version, c.UpdatedAt = r.seq, now
	if status == client.CommitmentActive && !c.ExpiresAt.After(now) {
		c.ExpiresAt = now.AddDate(3, 0, 0) // a reinstatement renews the term
	}
	// Copy on write: readers may hold the enterprise's previous slice.
	d := *r.ents[loc.e]
	d.commitments = append([]*client.Commitment(nil), d.commitments...)
	d.commitments[loc.i] = &c
	r.ents[loc.e] = &d
	typ := client.EventCommitmentUpdated
	if status == client.CommitmentRevoked {
		typ = client.EventCommitmentRevoked
	}
	ev := r.publishLocked(client.Event{Type: typ, Commitment: &c})
	return c, ev, nil
}

func (r *registry) publishInspection(gtin client.GTIN, result client.InspectionResult) (client.Inspection, client.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, j, ok := decodeGTIN(gtin)
	if !ok || e >= len(r.ents) || j >= r.ents[e].products {
		return client.Inspection{}, client.Event{}, fmt.Errorf("product %s: %w", gtin, ErrNotFound)
	}
	d := r.ents[e]
	prod := productOf(e, j, d)
	now := r.clock().UTC().Truncate(time.Second)
	n := len(r.insp) + 1
	id := fmt.Sprintf("ins_%08d", n)
	reg := regionOf(d.ent.RegionCode)
	r.seq++
	in := &client.Inspection{
		ID:           id,
		EnterpriseID: d.ent.ID,
		Category:     prod.Category,
		Product: client.SampledProduct{
			Name: prod.Name, Brand: prod.Brand, Model: prod.Model, GTIN: prod.GTIN,
			Batch: now.Format("20060102") + "-1",
		},
		Authority:   client.Text{ZH: reg.province.ZH + "市场监督管理局", EN: reg.province.EN + " Administration for Market Regulation"},
		SampledAt:   now.Add(-20 * day),
		PublishedAt: now,
		Result:      result,
		ReportNo:    fmt.Sprintf("QC%s%06d", now.Format("2006"), n),
		Version:     r.seq,
		UpdatedAt:   now,
		VerifyURL:   r.verify + "/inspections/" + id,
	}
	if result == client.InspectionFail {
		for _, c := range categories {
			if c.code == prod.Category {
				in.FailedItems = []client.FailedItem{c.failures[0]}
			}
		}
		in.Rectification = &client.Rectification{Status: "ordered", Deadline: now.Add(60 * day)}
	}
	r.insp = append(r.insp, in)
	r.inspByDate = insertSorted(r.inspByDate, in, inspBefore)
	r.indexInspection(len(r.insp)-1, in)
	ev := r.publishLocked(client.Event{Type: client.EventInspectionPublished, Inspection: in})
	return *in, ev, nil
}

func (r *registry) delist(idOrUSCC string) (client.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entByID[idOrUSCC]
	if !ok {
		if u, err := client.ParseUSCC(idOrUSCC); err == nil {
			e, ok = r.entByUSCC[u]
		}
	}
	if !ok || r.ents[e].delisted {
		return client.Event{}, fmt.Errorf("enterprise %q: %w", idOrUSCC, ErrNotFound)
	}
	d := *r.ents[e]
	ent := *d.ent
	r.seq++
	ent.Version, ent.UpdatedAt = r.seq, r.clock().UTC().Truncate(time.Second)
	d.ent, d.delisted = &ent, true
	r.ents[e] = &d
	return r.publishLocked(client.Event{Type: client.EventEnterpriseDelisted, Enterprise: &ent}), nil
}

func (r *registry) renameEnterprise(idOrUSCC string, name client.Text) (client.Enterprise, client.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entByID[idOrUSCC]
	if !ok || r.ents[e].delisted {
		return client.Enterprise{}, client.Event{}, fmt.Errorf("enterprise %q: %w", idOrUSCC, ErrNotFound)
	}
	d := *r.ents[e]
	ent := *d.ent
	r.seq++
	ent.Name, ent.Version, ent.UpdatedAt = name, r.seq, r.clock().UTC().Truncate(time.Second)
	d.ent = &ent
	r.ents[e] = &d
	ev := r.publishLocked(client.Event{Type: client.EventEnterpriseUpdated, Enterprise: &ent})
	return ent, ev, nil
}

func (r *registry) publishCase(c client.Case) (client.Case, client.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextCase++
	r.seq++
	now := r.clock().UTC().Truncate(time.Second)
	c.ID = fmt.Sprintf("case_%06d", r.nextCase)
	c.Version, c.UpdatedAt = r.seq, now
	if c.PublishedAt.IsZero() {
		c.PublishedAt = now
	}
	c.VerifyURL = r.verify + "/cases/" + c.ID
	stored := c
	r.cases = append(r.cases, &stored)
	r.casesByDate = insertSorted(r.casesByDate, &stored, caseBefore)
	r.caseByID[c.ID] = len(r.cases) - 1
	ev := r.publishLocked(client.Event{Type: client.EventCasePublished, Case: &stored})
	return c, ev
}
