package sandbox

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/qualitycommit/qcsdk/client"
)

// The registry's log: every position of the change sequence is a leaf of
// an append-only Merkle tree (client.LogLeaf of the change at seq is leaf
// seq-1), and the sandbox signs checkpoints of it with a key it lists at
// /v1/keys.
//
// Positions 1 to the generated set's last version were handed out by the
// generator, which publishes no events: each generated record holds one of
// them as its version, so the change at that position is taken to be the
// record's publication, captured when the registry is built (before the
// demo reports' history replaces any of them). Every later position is a
// published change, the demo reports' quiet history included; the
// registry keeps each for the log, even once the feed has dropped it.
//
// The tree is hashed when someone first asks for it and then extended on
// each request by the changes published since, so that a large data set
// starts as fast as it did and a sandbox nobody asks for its log never
// hashes it.

// Defaults of the log.
const (
	// logKeyName names the keys the sandbox generates.
	logKeyName = "sandbox.qualitycommit.example"
	// defaultLogKeyGrace is how long a key rotated out still verifies.
	defaultLogKeyGrace = 24 * time.Hour
)

// WithLogKey makes the sandbox sign checkpoints with skey, a
// golang.org/x/mod/sumdb/note Ed25519 signer key, rather than a key it
// generates, so that a test or a CI job can pin the verifier key. A key
// that is not one is an error, which never repeats the key.
func WithLogKey(skey string) Option {
	return func(c *config) error {
		k, err := signerFromKey(skey)
		if err != nil {
			return err
		}
		c.logKey = k
		return nil
	}
}

// WithLogOrigin sets the origin line of the sandbox's checkpoints: not
// empty, on one line.
func WithLogOrigin(origin string) Option {
	return func(c *config) error {
		if origin == "" || strings.ContainsAny(origin, "\n\r") {
			return fmt.Errorf("log origin %q is empty or holds a line break", origin)
		}
		c.logOrigin = origin
		return nil
	}
}

// WithLogKeyGrace sets how long a key rotated out by RotateLogKey still
// verifies checkpoints (default 24 hours; 0 stops it at once).
func WithLogKeyGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("log key grace %v is negative", d)
		}
		c.logGrace = d
		return nil
	}
}

// historyDays is how far before the reference day the generated history
// can reach (a maker listed 1,500 days before it at most), and so when
// the log's first key comes into force.
const historyDays = 2000

// logSigner is one of the log's keys: the signer while it is the newest,
// and the verifier key /v1/keys lists.
type logSigner struct {
	signer    note.Signer
	vkey      string
	notBefore time.Time
	notAfter  *time.Time
}

// merkleTree is an append-only tree: the hashes tlog says to store, for
// the first size leaves.
type merkleTree struct {
	hashes []tlog.Hash
	size   int64
}

func (t *merkleTree) ReadHashes(ids []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ids))
	for i, id := range ids {
		if id < 0 || id >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("sandbox: no stored hash %d in a tree of %d", id, t.size)
		}
		out[i] = t.hashes[id]
	}
	return out, nil
}

func (t *merkleTree) append(leaf []byte) error {
	hs, err := tlog.StoredHashes(t.size, leaf, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.size++
	return nil
}

// forkedTree is the history one API key is shown after ForkLog: leaf at
// differs from everyone else's, and the leaves after it are theirs.
type forkedTree struct {
	merkleTree
	at int64
}

// changeLog is the registry's log. Its lock is taken before the
// registry's, never while holding it.
type changeLog struct {
	reg    *registry
	origin string
	grace  time.Duration
	clock  func() time.Time
	name   string

	mu     sync.Mutex
	honest merkleTree
	forks  map[string]*forkedTree // by scope
	keys   []*logSigner           // oldest first; the last signs
	// signed is the latest checkpoint signed for each scope: every
	// product status answer carries one, and most of them find the log
	// as the answer before left it.
	signed map[string]signedCheckpoint
}

// signedCheckpoint is a checkpoint signed by key for a tree of size.
type signedCheckpoint struct {
	size int64
	key  *logSigner
	note []byte
}

func newChangeLog(reg *registry, cfg config) (*changeLog, error) {
	l := &changeLog{
		reg:    reg,
		origin: cfg.logOrigin,
		grace:  cfg.logGrace,
		clock:  cfg.clock,
		name:   logKeyName,
		forks:  map[string]*forkedTree{},
		signed: map[string]signedCheckpoint{},
	}
	// The first key signed the log from its start: the generated history
	// begins well before the reference day, and a reader whose clock is
	// set to that day (a test's, an example's) must find it in force.
	now := cfg.clock().UTC().Truncate(time.Second)
	if start := cfg.data.ref.Add(-historyDays * day).UTC(); start.Before(now) {
		now = start
	}
	if cfg.logKey == nil {
		k, err := l.generateKey(now)
		if err != nil {
			return nil, err
		}
		l.keys = []*logSigner{k}
		return l, nil
	}
	k := &logSigner{signer: cfg.logKey.signer, vkey: cfg.logKey.vkey, notBefore: now}
	l.name = k.signer.Name()
	l.keys = []*logSigner{k}
	return l, nil
}

func (l *changeLog) generateKey(now time.Time) (*logSigner, error) {
	skey, _, err := note.GenerateKey(rand.Reader, l.name)
	if err != nil {
		return nil, fmt.Errorf("sandbox: generating the log's key: %w", err)
	}
	k, err := signerFromKey(skey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	k.notBefore = now
	return k, nil
}

// signerFromKey reads a note signer key and derives its verifier key,
// which note does not do: the key's last field is the algorithm byte and
// the Ed25519 seed.
func signerFromKey(skey string) (*logSigner, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("the log key is not a note signer key")
	}
	// PRIVATE+KEY+name+hash+key: the key's base64 may hold '+' itself.
	fields := strings.SplitN(skey, "+", 5)
	if len(fields) != 5 {
		return nil, errors.New("the log key is not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("the log key is not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, fmt.Errorf("the log key: %w", err)
	}
	return &logSigner{signer: s, vkey: vkey}, nil
}

// genesisChanges returns the change each position of the generated set
// made: the publication of the record whose version it is. Every
// position from 1 to d.seq holds exactly one record; a gap is a bug of the
// generator.
func genesisChanges(d *data) []client.Event {
	out := make([]client.Event, d.seq)
	put := func(v int64, ev client.Event) {
		if v < 1 || v > d.seq || out[v-1].Seq != 0 {
			panic(fmt.Sprintf("sandbox: generated version %d is out of range or taken twice", v))
		}
		ev.Seq = v
		out[v-1] = ev
	}
	for _, c := range d.cats {
		put(c.Version, client.Event{Type: client.EventCategoryPublished, Category: c})
	}
	for _, ed := range d.ents {
		put(ed.ent.Version, client.Event{Type: client.EventEnterpriseUpdated, Enterprise: ed.ent})
		for _, c := range ed.commitments {
			put(c.Version, client.Event{Type: client.EventCommitmentPublished, Commitment: c})
		}
	}
	for _, in := range d.inspections {
		put(in.Version, client.Event{Type: client.EventInspectionPublished, Inspection: in})
	}
	for _, c := range d.cases {
		put(c.Version, client.Event{Type: client.EventCasePublished, Case: c})
	}
	for i, ev := range out {
		if ev.Seq == 0 {
			panic(fmt.Sprintf("sandbox: no generated record has version %d", i+1))
		}
	}
	return out
}

// changeAt returns the change at position seq; the caller holds r.mu.
func (r *registry) changeAtLocked(seq int64) client.Event {
	if n := int64(len(r.genesis)); seq <= n {
		return r.genesis[seq-1]
	}
	return r.logged[seq-1-int64(len(r.genesis))]
}

// leaves returns the leaves from index from up to the registry's head.
func (l *changeLog) leaves(from int64) ([][]byte, error) {
	l.reg.mu.RLock()
	head := l.reg.seq
	evs := make([]client.Event, 0, max(head-from, 0))
	for seq := from + 1; seq <= head; seq++ {
		evs = append(evs, l.reg.changeAtLocked(seq))
	}
	l.reg.mu.RUnlock()
	// A leaf costs a record's canonical JSON and its hash: the first
	// request of a large set makes tens of thousands, so they are made on
	// every core. Each is independent of the others; the tree is hashed
	// in order after.
	out := make([][]byte, len(evs))
	errs := make([]error, len(evs))
	workers := 1
	if len(evs) >= 1024 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunk := (len(evs) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w*chunk < len(evs); w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(evs))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i], errs[i] = client.LogLeaf(evs[i])
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("sandbox: the log's leaf %d: %w", from+int64(i), err)
		}
	}
	return out, nil
}

// forgedLeaf is the leaf a forked reader is shown in place of leaf: well
// formed, the same position, kind and id, another record's digest.
func forgedLeaf(leaf []byte) []byte {
	i := strings.LastIndex(string(leaf), "sha256 ")
	sum := sha256.Sum256(append([]byte("forked\n"), leaf...))
	return fmt.Appendf(slices.Clone(leaf[:i]), "sha256 %s\n", base64.StdEncoding.EncodeToString(sum[:]))
}

// viewLocked brings the tree scope is shown up to the registry's head and
// returns it. The caller holds l.mu.
func (l *changeLog) viewLocked(scope string) (*merkleTree, error) {
	leaves, err := l.leaves(l.honest.size)
	if err != nil {
		return nil, err
	}
	for _, leaf := range leaves {
		if err := l.honest.append(leaf); err != nil {
			return nil, err
		}
	}
	f, ok := l.forks[scope]
	if !ok {
		return &l.honest, nil
	}
	for f.size < l.honest.size {
		leaf, err := l.leafLocked(scope, f.size)
		if err != nil {
			return nil, err
		}
		if err := f.append(leaf); err != nil {
			return nil, err
		}
	}
	return &f.merkleTree, nil
}

// leafLocked returns leaf index as scope is shown it. The caller holds
// l.mu, and index is below the honest tree's size.
func (l *changeLog) leafLocked(scope string, index int64) ([]byte, error) {
	l.reg.mu.RLock()
	ev := l.reg.changeAtLocked(index + 1)
	l.reg.mu.RUnlock()
	leaf, err := client.LogLeaf(ev)
	if err != nil {
		return nil, fmt.Errorf("sandbox: the log's leaf %d: %w", index, err)
	}
	if f, ok := l.forks[scope]; ok && f.at == index {
		leaf = forgedLeaf(leaf)
	}
	return leaf, nil
}

// checkpoint signs the tree scope is shown, at its current size.
func (l *changeLog) checkpoint(scope string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.viewLocked(scope)
	if err != nil {
		return nil, err
	}
	return l.signLocked(scope, t)
}

// signLocked signs t, the tree scope is shown, or finds it signed
// already. The caller holds l.mu.
func (l *changeLog) signLocked(scope string, t *merkleTree) ([]byte, error) {
	key := l.keys[len(l.keys)-1]
	if _, forked := l.forks[scope]; !forked {
		scope = "" // the honest tree, whoever reads it
	}
	if c, ok := l.signed[scope]; ok && c.size == t.size && c.key == key {
		return c.note, nil
	}
	root, err := tlog.TreeHash(t.size, t)
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", l.origin, t.size, root)}, key.signer)
	if err != nil {
		return nil, err
	}
	l.signed[scope] = signedCheckpoint{size: t.size, key: key, note: signed}
	return signed, nil
}

// proveStatuses gives each status made of records its proof: each
// record's inclusion proof in the tree scope is shown, at its current
// size. It returns the checkpoint of that tree and, when from is a
// smaller tree's size (the reader's latest verified, 0 for none), the
// proof that it extends that tree. With no status to prove it returns
// nothing and leaves the log alone, so that a sandbox asked only of
// products that are not listed never hashes its log.
//
// Each record's version is its change's position, which the tree holds
// as the statuses were read before it was brought up to the head.
func (l *changeLog) proveStatuses(scope string, sts []*client.ProductStatus, from int64) ([]byte, *client.ConsistencyProof, error) {
	some := false
	for _, st := range sts {
		some = some || st.Enterprise != nil || st.Commitment != nil || len(st.Inspections) > 0
	}
	if !some {
		return nil, nil, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.viewLocked(scope)
	if err != nil {
		return nil, nil, err
	}
	signed, err := l.signLocked(scope, t)
	if err != nil {
		return nil, nil, err
	}
	prove := func(kind, id string, seq int64) (client.RecordProof, error) {
		if seq < 1 || seq > t.size {
			return client.RecordProof{}, fmt.Errorf("sandbox: %s %s's version %d is not in the log of %d", kind, id, seq, t.size)
		}
		p, err := tlog.ProveRecord(t.size, seq-1, t)
		if err != nil {
			return client.RecordProof{}, err
		}
		return client.RecordProof{Kind: kind, ID: id, Seq: seq, Proof: logHashes(p)}, nil
	}
	for _, st := range sts {
		var recs []client.RecordProof
		add := func(kind, id string, seq int64) error {
			rp, err := prove(kind, id, seq)
			recs = append(recs, rp)
			return err
		}
		if e := st.Enterprise; e != nil {
			if err := add("enterprise", e.ID, e.Version); err != nil {
				return nil, nil, err
			}
		}
		if c := st.Commitment; c != nil {
			if err := add("commitment", c.ID, c.Version); err != nil {
				return nil, nil, err
			}
		}
		for _, in := range st.Inspections {
			if err := add("inspection", in.ID, in.Version); err != nil {
				return nil, nil, err
			}
		}
		if recs != nil {
			st.Proof = &client.StatusProof{Records: recs}
		}
	}
	var cons *client.ConsistencyProof
	if from > 0 && from < t.size {
		p, err := tlog.ProveTree(t.size, from, t)
		if err != nil {
			return nil, nil, err
		}
		cons = &client.ConsistencyProof{From: from, To: t.size, Proof: logHashes(p)}
	}
	return signed, cons, nil
}

// errLogRange is a proof or leaf asked of a tree the log does not have.
var errLogRange = errors.New("out of range")

func (l *changeLog) inclusion(scope string, index, size int64) (client.InclusionProof, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.viewLocked(scope)
	if err != nil {
		return client.InclusionProof{}, err
	}
	if size > t.size {
		return client.InclusionProof{}, fmt.Errorf("%w: size %d is past the log's %d", errLogRange, size, t.size)
	}
	if index >= size {
		return client.InclusionProof{}, fmt.Errorf("%w: leaf %d is not in a tree of %d", errLogRange, index, size)
	}
	p, err := tlog.ProveRecord(size, index, t)
	if err != nil {
		return client.InclusionProof{}, err
	}
	return client.InclusionProof{Index: index, Size: size, Proof: logHashes(p)}, nil
}

func (l *changeLog) consistency(scope string, from, to int64) (client.ConsistencyProof, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.viewLocked(scope)
	if err != nil {
		return client.ConsistencyProof{}, err
	}
	if to > t.size {
		return client.ConsistencyProof{}, fmt.Errorf("%w: to %d is past the log's %d", errLogRange, to, t.size)
	}
	if from > to {
		return client.ConsistencyProof{}, fmt.Errorf("%w: from %d is past to %d", errLogRange, from, to)
	}
	out := client.ConsistencyProof{From: from, To: to, Proof: []client.LogHash{}}
	if from == 0 || from == to {
		return out, nil // every tree extends the empty one and itself
	}
	p, err := tlog.ProveTree(to, from, t)
	if err != nil {
		return client.ConsistencyProof{}, err
	}
	out.Proof = logHashes(p)
	return out, nil
}

func (l *changeLog) leaf(scope string, index int64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.viewLocked(scope)
	if err != nil {
		return nil, err
	}
	if index >= t.size {
		return nil, fmt.Errorf("%w: leaf %d is not in the log of %d", errLogRange, index, t.size)
	}
	return l.leafLocked(scope, index)
}

// keyList is the keys as /v1/keys lists them, oldest first.
func (l *changeLog) keyList() []client.LogKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]client.LogKey, len(l.keys))
	for i, k := range l.keys {
		out[i] = client.LogKey{Key: k.vkey, NotBefore: k.notBefore, NotAfter: k.notAfter}
	}
	return out
}

// rotate makes a new key sign from now on; the one it replaces verifies
// until the grace period ends.
func (l *changeLog) rotate() ([]client.LogKey, error) {
	now := l.clock().UTC().Truncate(time.Second)
	k, err := l.generateKey(now)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	old := l.keys[len(l.keys)-1]
	end := now.Add(l.grace)
	old.notAfter = &end
	l.keys = append(l.keys, k)
	l.mu.Unlock()
	return l.keyList(), nil
}

// fork shows scope a history of its own from the next change on, and
// returns that change's leaf index. Forking a scope already forked
// changes nothing.
func (l *changeLog) fork(scope string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.forks[scope]; ok {
		return f.at, nil
	}
	if _, err := l.viewLocked(""); err != nil {
		return 0, err
	}
	at := l.honest.size
	f := &forkedTree{at: at}
	f.size = at
	f.hashes = slices.Clone(l.honest.hashes[:tlog.StoredHashCount(at)])
	l.forks[scope] = f
	return at, nil
}

// RotateLogKey makes a newly generated key sign the log's checkpoints
// from now on, and gives the key it replaces an end: a checkpoint that
// key signed verifies until the grace period (WithLogKeyGrace) has
// passed. It returns the keys as /v1/keys now lists them.
func (s *Sandbox) RotateLogKey() ([]client.LogKey, error) { return s.log.rotate() }

// ForkLog shows the platform with apiKey ("" for the callers without one)
// a history of the log of its own, for tests that a reader catches a
// split view: from the next change on, its tree holds another leaf at
// that change's position and the same leaves after it, so its
// checkpoints are signed and well formed, but no consistency proof joins
// them to anyone else's. It returns the leaf index where the histories
// part.
func (s *Sandbox) ForkLog(apiKey string) (int64, error) {
	if apiKey == "" {
		apiKey = anonymous
	}
	return s.log.fork(apiKey)
}

// LogKeys lists the log's keys as /v1/keys does.
func (s *Sandbox) LogKeys() []client.LogKey { return s.log.keyList() }

// --- routes ------------------------------------------------------------------

// text answers body as plain text.
func (b *buffer) text(status int, cacheControl string, body []byte) {
	b.status = status
	b.header.Set("Content-Type", "text/plain; charset=utf-8")
	b.header.Set("Cache-Control", cacheControl)
	b.body.Reset()
	b.body.Write(body)
}

// ccLog is the policy of the log's answers: a forked reader is shown its
// own history, so no shared cache may keep them.
const ccLog = "private, no-cache"

// logParam reads a required non-negative whole-number query parameter,
// answering 400 invalid_parameter when it is not one.
func logParam(b *buffer, r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil || n < 0 || strconv.FormatInt(n, 10) != v {
		msg := "required"
		if v != "" {
			msg = "not a whole number from 0"
		}
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter,
			name+" must be a whole number from 0", client.ProblemField{Field: name, Message: msg})
		return 0, false
	}
	return n, true
}

// logError answers an error of the log: 400 for a range the log does not
// have, 500 otherwise.
func logError(b *buffer, err error, field string) {
	if errors.Is(err, errLogRange) {
		b.problem(http.StatusBadRequest, client.CodeInvalidParameter, err.Error(), client.ProblemField{Field: field, Message: "out of range"})
		return
	}
	b.problem(http.StatusInternalServerError, client.CodeInternal, "the log could not answer")
}

func (s *Sandbox) logCheckpoint(b *buffer, r *http.Request) {
	cp, err := s.log.checkpoint(s.scope(r))
	if err != nil {
		logError(b, err, "")
		return
	}
	b.text(http.StatusOK, ccLog, cp)
}

func (s *Sandbox) logInclusion(b *buffer, r *http.Request) {
	index, ok := logParam(b, r, "index")
	if !ok {
		return
	}
	size, ok := logParam(b, r, "size")
	if !ok {
		return
	}
	field := "size"
	if index >= size {
		field = "index"
	}
	p, err := s.log.inclusion(s.scope(r), index, size)
	if err != nil {
		logError(b, err, field)
		return
	}
	b.json(http.StatusOK, ccLog, p)
}

func (s *Sandbox) logConsistency(b *buffer, r *http.Request) {
	from, ok := logParam(b, r, "from")
	if !ok {
		return
	}
	to, ok := logParam(b, r, "to")
	if !ok {
		return
	}
	field := "to"
	if from > to {
		field = "from"
	}
	p, err := s.log.consistency(s.scope(r), from, to)
	if err != nil {
		logError(b, err, field)
		return
	}
	b.json(http.StatusOK, ccLog, p)
}

func (s *Sandbox) logLeaf(b *buffer, r *http.Request) {
	index, ok := logParam(b, r, "index")
	if !ok {
		return
	}
	leaf, err := s.log.leaf(s.scope(r), index)
	if err != nil {
		logError(b, err, "index")
		return
	}
	b.text(http.StatusOK, ccLog, leaf)
}

func (s *Sandbox) logKeys(b *buffer, r *http.Request) {
	b.json(http.StatusOK, ccNoStore, struct {
		Data []client.LogKey `json:"data"`
	}{s.log.keyList()})
}

func (s *Sandbox) opRotateLogKey(b *buffer, r *http.Request) {
	keys, err := s.RotateLogKey()
	if err != nil {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "the log's key could not be rotated")
		return
	}
	b.json(http.StatusOK, ccNoStore, struct {
		Data []client.LogKey `json:"data"`
	}{keys})
}

// opForkLog forks the log for the API key in the body ({"api_key": …}) or
// the query (api_key=…); with neither, for the callers without a key.
func (s *Sandbox) opForkLog(b *buffer, r *http.Request) {
	key := r.URL.Query().Get("api_key")
	if key == "" && r.ContentLength != 0 {
		var req struct {
			APIKey string `json:"api_key"`
		}
		if !readJSON(b, r, maxReportBody, &req) {
			return
		}
		key = req.APIKey
	}
	at, err := s.ForkLog(key)
	if err != nil {
		b.problem(http.StatusInternalServerError, client.CodeInternal, "the log could not be forked")
		return
	}
	b.json(http.StatusOK, ccNoStore, map[string]int64{"fork_at": at})
}

// logHashes is a proof tlog made, as the registry's answers carry it.
func logHashes(p []tlog.Hash) []client.LogHash {
	out := make([]client.LogHash, len(p))
	for i, h := range p {
		out[i] = client.LogHash(h)
	}
	return out
}
