package redisstore

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/client"

	"github.com/qualitycommit/qcsdk/cache"
)

// How the Redis store lays an entry out, to keep a cached status small:
// most of a status is its maker's record and its commitment's, which all
// the maker's products share. Redis keeps each such record once, by id and
// version, under Prefix+"rec:e:"+id+":"+version (or "rec:c:" for a
// commitment), for as long as the longest-lived entry that refers to it;
// an entry keeps the references, its times as Unix nanoseconds, and short
// names. A reader fetches a record only when its process does not already
// hold that version (see records).

// Values are compressed with DEFLATE and a preset dictionary of the JSON
// this package writes (its names and the shapes of its values), as the
// dictionaries of zstd do: a value of a few hundred bytes has little in
// itself to compress against, and shares most of its bytes with every
// other. A value starts with a format byte: 'z' for this dictionary,
// anything else is read as plain JSON. The dictionary can never change
// under 'z'; a new one takes a new format byte.
var valueDict = []byte(`{"id":"cmt_0000001_1","enterprise_id":"ent_0000001","category":"household_appliances",` +
	`"scope":{"brands":[""],"models":[],"gtin_prefixes":[]},"items":[{"kind":"standard","standard":"GB ","text":{"zh":"符合","en":"Meets the "}},` +
	`{"kind":"repair","standard":"","text":{"zh":"保修","en":"repair guarantee"}},{"kind":"return","standard":"","text":{"zh":"退货","en":"Returns without reason within 7 days of sale"}},` +
	`{"kind":"labelling","standard":"","text":{"zh":"产品标识、说明书与实际一致","en":"Labels and instructions match the product"}}],` +
	`"effective_at":"2025-10-27T00:00:00Z","expires_at":"2028-10-27T00:00:00Z","status":"active","status_changed_at":"2025-10-27T00:00:00Z",` +
	`"version":1,"updated_at":"2025-10-27T00:00:00Z","verify_url":"https://verify.qualitycommit.example/commitments/cmt_0000001_1"}` +
	`{"id":"ent_0000001","uscc":"91330100","name":{"zh":"有限公司","en":" Co., Ltd."},"region_code":"330100","region":{"zh":"省市","en":""},` +
	`"categories":["household_appliances","washing_products","childrens_clothing"],"listed_at":"2023-05-02T00:00:00Z","version":1,` +
	`"updated_at":"2023-09-01T00:00:00Z","verify_url":"https://verify.qualitycommit.example/enterprises/ent_0000001"}` +
	`"inspections":[{"id":"ins_00000001","enterprise_id":"ent_0000001","category":"household_appliances","product":{"name":{"zh":"","en":""},` +
	`"brand":"","model":"","batch":"","gtin":"069"},"authority":{"zh":"省市场监督管理局","en":"Administration for Market Regulation"},` +
	`"sampled_at":"2026-09-30T10:00:00Z","published_at":"2026-10-22T10:00:00Z","result":"pass","failed_items":[{"item":"","requirement":"","measured":""}],` +
	`"report_no":"QC2026000001","version":1,"updated_at":"2026-10-22T10:00:00Z","verify_url":"https://verify.qualitycommit.example/inspections/ins_00000001"}],` +
	`{"s":{"key":{"gtin":"06910000100003"},"listed":true,"product":{"name":{"zh":"","en":""},"brand":"","model":"","gtin":"06910000100003",` +
	`"category":"household_appliances"},"version":1,"updated_at":"2026-11-16T00:00:00Z"},"er":"ent_0000001:1","cr":"cmt_0000001_1:1",` +
	`"ou":true,"t":"\"","u":17961,"x":17961}`)

// A value whose status carries the registry's log proof takes format
// 'p' instead: the entry's JSON without the proof's hashes, plain, then
// the hashes as raw bytes, each distinct one once (see appendProofs).
// Most of such a value is hashes, which DEFLATE cannot shrink below their
// raw size; and compress/flate's fixed cost per value — clearing its
// match tables, building Huffman codes — was most of the CPU a cold page
// spent writing through to Redis. The value is about a third larger than
// under 'z' and is written and read several times faster.
const (
	formatDeflate = 'z'
	formatProven  = 'p'
)

// maxProofHashes bounds one record's proof as a reader takes it: a tree
// of 2^63 leaves needs 63 hashes.
const maxProofHashes = 64

const hashSize = len(client.LogHash{})

// maxValue bounds what a value may inflate to, so that a hostile value
// under the store's prefix cannot make a reader allocate without end.
const maxValue = 1 << 20

var (
	writers = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(io.Discard, flate.BestCompression, valueDict)
		return w
	}}
	readers = sync.Pool{New: func() any { return flate.NewReaderDict(bytes.NewReader(nil), valueDict) }}
)

// pack compresses a JSON value and puts the format byte before it.
func pack(js []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(js)/2 + 8)
	b.WriteByte(formatDeflate)
	w := writers.Get().(*flate.Writer)
	w.Reset(&b)
	_, _ = w.Write(js)
	_ = w.Close()
	writers.Put(w)
	return b.Bytes()
}

// unpack reads a value that pack wrote, or plain JSON.
func unpack(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != formatDeflate {
		return v, nil
	}
	r := readers.Get().(io.ReadCloser)
	defer readers.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(v[1:]), valueDict); err != nil {
		return nil, err
	}
	// Sized for what a value usually inflates to, so that reading it takes
	// one allocation rather than io.ReadAll's doubling from 512 bytes.
	buf := bytes.NewBuffer(make([]byte, 0, min(4*len(v)+bytes.MinRead, maxValue+1)))
	if _, err := buf.ReadFrom(io.LimitReader(r, maxValue+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxValue {
		return nil, errors.New("value too large")
	}
	return buf.Bytes(), nil
}

// redisEntry is an Entry as Redis keeps it.
type redisEntry struct {
	Status *client.ProductStatus `json:"s,omitempty"` // without its two records
	EntRef string                `json:"er,omitempty"`
	CmtRef string                `json:"cr,omitempty"`
	// OwnURL says the status's verify URL was its commitment's (or, with
	// none, its maker's), and so left out.
	OwnURL     bool               `json:"ou,omitempty"`
	Enterprise *client.Enterprise `json:"en,omitempty"`
	Raw        json.RawMessage    `json:"r,omitempty"`
	Cursor     string             `json:"c,omitempty"`
	// Maker is left out when EntRef names it. The position, version and
	// times are in the value's header.
	Maker string `json:"m,omitempty"`
	ETag  string `json:"t,omitempty"`
}

// ref names a record by id and version.
func ref(id string, version int64) string { return id + ":" + strconv.FormatInt(version, 10) }

func parseRef(r string) (id string, version int64, ok bool) {
	i := strings.LastIndexByte(r, ':')
	if i <= 0 {
		return "", 0, false
	}
	v, err := strconv.ParseInt(r[i+1:], 10, 64)
	return r[:i], v, err == nil
}

func (r *Store) entRecKey(ref string) string { return r.prefix + "rec:e:" + ref }
func (r *Store) cmtRecKey(ref string) string { return r.prefix + "rec:c:" + ref }

// encode lays e out for Redis, and returns the records it refers to,
// keyed by their Redis keys.
func (r *Store) encode(e *cache.Entry) ([]byte, map[string]any, error) {
	re := redisEntry{Enterprise: e.Enterprise, Raw: e.Raw, Cursor: e.Cursor, Maker: e.Maker, ETag: e.ETag}
	var recs map[string]any
	if st := e.Status; st != nil {
		cp := *st
		url := ""
		if st.Enterprise != nil {
			re.EntRef = ref(st.Enterprise.ID, st.Enterprise.Version)
			url = st.Enterprise.VerifyURL
			recs = map[string]any{r.entRecKey(re.EntRef): st.Enterprise}
			cp.Enterprise = nil
		}
		if c := st.Commitment; c != nil {
			re.CmtRef = ref(c.ID, c.Version)
			url = c.VerifyURL
			if recs == nil {
				recs = make(map[string]any, 1)
			}
			recs[r.cmtRecKey(re.CmtRef)] = c
			cp.Commitment = nil
		}
		if url != "" && cp.VerifyURL == url {
			cp.VerifyURL, re.OwnURL = "", true
		}
		if st.Enterprise != nil && re.Maker == st.Enterprise.ID {
			re.Maker = ""
		}
		if p := st.Proof; p != nil && len(p.Records) > 0 {
			pc := *p
			pc.Records = make([]client.RecordProof, len(p.Records))
			for i, rp := range p.Records {
				rp.Proof = nil // written raw after the JSON
				pc.Records[i] = rp
			}
			cp.Proof = &pc
		}
		re.Status = &cp
	}
	b, err := json.Marshal(re)
	if err != nil {
		return nil, nil, err
	}
	if re.Status != nil && re.Status.Proof != nil && len(re.Status.Proof.Records) > 0 {
		return appendProofs(b, e.Status.Proof.Records), recs, nil
	}
	return pack(b), recs, nil
}

// appendProofs lays out a value of format 'p': the format byte, the
// JSON's length and the JSON, then for each record's proof in order the
// number of its hashes and each hash — a 0 and its 32 bytes the first
// time it appears in the value, else the number of the distinct hash it
// repeats plus one. The records of one status share most of their
// proofs' upper hashes.
func appendProofs(js []byte, recs []client.RecordProof) []byte {
	n := 0
	for _, rp := range recs {
		n += len(rp.Proof)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(js)+len(recs)+n*(1+hashSize))
	b = append(b, formatProven)
	b = binary.AppendUvarint(b, uint64(len(js)))
	b = append(b, js...)
	seen := make([]client.LogHash, 0, n)
	for _, rp := range recs {
		b = binary.AppendUvarint(b, uint64(len(rp.Proof)))
		for _, h := range rp.Proof {
			if i := slices.Index(seen, h); i >= 0 {
				b = binary.AppendUvarint(b, uint64(i+1))
				continue
			}
			seen = append(seen, h)
			b = append(b, 0)
			b = append(b, h[:]...)
		}
	}
	return b
}

// readBody returns the JSON of a value's body, and under format 'p' the
// proofs' hashes that follow it (see appendProofs).
func readBody(v []byte) (js, proofs []byte, err error) {
	if len(v) == 0 || v[0] != formatProven {
		js, err = unpack(v)
		return js, nil, err
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n > uint64(len(v)-1-k) {
		return nil, nil, errors.New("proven value cut short")
	}
	start := 1 + k
	return v[start : start+int(n)], v[start+int(n):], nil
}

// readProofs puts the hashes appendProofs wrote back into recs. Every
// record's proof is read, and nothing may be left over: a value that
// does not match its JSON is refused, not half read.
func readProofs(b []byte, recs []client.RecordProof) error {
	var seen []client.LogHash
	for i := range recs {
		if recs[i].Proof != nil {
			return errors.New("proof hashes both in the JSON and after it")
		}
		n, k := binary.Uvarint(b)
		if k <= 0 || n > maxProofHashes {
			return errors.New("bad proof length")
		}
		b = b[k:]
		proof := make([]client.LogHash, n)
		for j := range proof {
			ref, k := binary.Uvarint(b)
			if k <= 0 {
				return errors.New("proof cut short")
			}
			b = b[k:]
			if ref > 0 {
				if ref > uint64(len(seen)) {
					return errors.New("proof hash refers past what was read")
				}
				proof[j] = seen[ref-1]
				continue
			}
			if len(b) < hashSize {
				return errors.New("proof hash cut short")
			}
			proof[j] = client.LogHash(b[:hashSize])
			b = b[hashSize:]
			seen = append(seen, proof[j])
		}
		recs[i].Proof = proof
	}
	if len(b) != 0 {
		return errors.New("bytes after the proofs")
	}
	return nil
}

// decode reads an entry's value (see split) laid out by encode. With records missing — keys
// it needs and neither this process nor fetched holds — it returns them,
// and an entry without its records that only its times may be read from;
// the caller fetches them and decodes again.
func (r *Store) decode(val string, fetched map[string]string) (*cache.Entry, []string, error) {
	h, ok := split(val)
	if !ok {
		return nil, nil, errors.New("no header")
	}
	b, proofs, err := readBody(h.body)
	if err != nil {
		return nil, nil, err
	}
	var re redisEntry
	if err := json.Unmarshal(b, &re); err != nil {
		return nil, nil, err
	}
	if proofs != nil {
		if re.Status == nil || re.Status.Proof == nil {
			return nil, nil, errors.New("proof hashes without a proof")
		}
		if err := readProofs(proofs, re.Status.Proof.Records); err != nil {
			return nil, nil, err
		}
	}
	e := &cache.Entry{
		Status: re.Status, Enterprise: re.Enterprise, Raw: re.Raw, Cursor: re.Cursor, Maker: re.Maker,
		AsOf: h.asOf, Version: h.version, ETag: re.ETag,
		Fetched: h.fetched, FreshUntil: h.fresh, Expires: h.expires,
	}
	if e.Tombstone() != h.tombstone {
		return nil, nil, errors.New("the header and the body disagree on what the entry is")
	}
	if e.Maker == "" && re.EntRef != "" {
		e.Maker, _, _ = parseRef(re.EntRef)
	}
	if st := e.Status; st != nil {
		var missing []string
		if re.EntRef != "" {
			id, v, ok := parseRef(re.EntRef)
			if !ok {
				return nil, nil, errors.New("bad record reference")
			}
			if st.Enterprise = r.records.Enterprises.Lookup(id, v); st.Enterprise == nil {
				k := r.entRecKey(re.EntRef)
				if s, ok := fetched[k]; ok {
					rec := new(client.Enterprise)
					if err := unmarshalRecord(s, rec); err != nil {
						return nil, nil, err
					}
					st.Enterprise = r.records.Enterprise(rec)
				} else {
					missing = append(missing, k)
				}
			}
		}
		if re.CmtRef != "" {
			id, v, ok := parseRef(re.CmtRef)
			if !ok {
				return nil, nil, errors.New("bad record reference")
			}
			if st.Commitment = r.records.Commitments.Lookup(id, v); st.Commitment == nil {
				k := r.cmtRecKey(re.CmtRef)
				if s, ok := fetched[k]; ok {
					rec := new(client.Commitment)
					if err := unmarshalRecord(s, rec); err != nil {
						return nil, nil, err
					}
					st.Commitment = r.records.Commitments.Intern(rec.ID, rec.Version, rec)
				} else {
					missing = append(missing, k)
				}
			}
		}
		if len(missing) > 0 {
			return e, missing, nil
		}
		if re.OwnURL {
			if st.Commitment != nil {
				st.VerifyURL = st.Commitment.VerifyURL
			} else if st.Enterprise != nil {
				st.VerifyURL = st.Enterprise.VerifyURL
			}
		}
		r.records.Proof(st)
	}
	e.Enterprise = r.records.Enterprise(e.Enterprise)
	return e, nil, nil
}

// recordValue is a record's value: its JSON, plain. A record is kept
// once for all its maker's products, so compressing it would save little
// memory, and compress/flate's fixed cost per value made writing the
// records of a cold listing's makers a tenth of its CPU. Values written
// packed before are still read (unpack).
func recordValue(rec any) (string, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// unmarshalRecord decodes a record's value.
func unmarshalRecord(v string, rec any) error {
	b, err := unpack([]byte(v))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, rec)
}

// written remembers the records this store has written and until when
// they live in Redis, so that the products of one maker write its records
// once, not once each.
type written struct {
	mu sync.Mutex
	m  map[string]int64 // record key → expiry, unix ms
}

const maxWritten = 100_000

// recordSlack is how much longer than the entries that refer to it a
// record is kept (see writeRecordsEach).
const recordSlack = time.Hour

func (w *written) needs(key string, until int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[key] < until
}

func (w *written) done(key string, until int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil || len(w.m) >= maxWritten {
		w.m = make(map[string]int64)
	}
	w.m[key] = max(w.m[key], until)
}

// forget is called when a record was found missing in Redis (evicted, or
// Redis restarted): the next write of an entry that refers to it writes
// it again.
func (w *written) forget(key string) {
	w.mu.Lock()
	delete(w.m, key)
	w.mu.Unlock()
}

// writeRecords makes sure Redis holds recs until expires (unix ms): each
// is created if absent and its expiry moved later if it would go first.
// Records are immutable per id and version, so an existing one is kept.
func (r *Store) writeRecords(ctx context.Context, recs map[string]any, expires int64) error {
	return r.writeRecordsEach(ctx, recs, func(string) int64 { return expires })
}

// writeRecordsEach is writeRecords with each record's own expiry.
//
// A record is written to outlive the entries that need it by
// recordSlack, so that the entries written after it for an hour — each
// expiring a little later than the one before — find it in place rather
// than each moving its expiry again: a listing of cold products from
// one maker costs its records one write, not one per product.
func (r *Store) writeRecordsEach(ctx context.Context, recs map[string]any, expiresOf func(string) int64) error {
	var todo []string
	for k := range recs {
		if r.written.needs(k, expiresOf(k)) {
			todo = append(todo, k)
		}
	}
	padded := func(k string) int64 { return expiresOf(k) + recordSlack.Milliseconds() }
	if len(todo) == 0 {
		return nil
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range todo {
			b, err := recordValue(recs[k])
			if err != nil {
				return err
			}
			expires := padded(k)
			p.SetArgs(ctx, k, b, redis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(expires)})
			p.Do(ctx, "PEXPIREAT", k, expires, "GT")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // SET NX answers nil when the record exists
		return err
	}
	for _, k := range todo {
		r.written.done(k, padded(k))
	}
	return nil
}

// fetchRecords reads record keys, and the stamps of makers with the
// resynchronisation's and the fleet's head when withStamps, in one round
// trip.
func (r *Store) fetchRecords(ctx context.Context, keys, makers []string, withStamps bool) (map[string]string, stamps, error) {
	recs := make([]*redis.StringCmd, len(keys))
	var st stamps
	var resync, head *redis.StringCmd
	mk := make([]*redis.StringCmd, len(makers))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			recs[i] = p.Get(ctx, k)
		}
		if withStamps {
			resync, head = p.Get(ctx, r.stampKey("")), p.Get(ctx, r.headKey())
			for i, m := range makers {
				mk[i] = p.Get(ctx, r.stampKey(m))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, st, err
	}
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		if s, err := recs[i].Result(); err == nil {
			out[k] = s
		}
	}
	if withStamps {
		st.resync, st.head = position(resync), position(head)
		st.makers = make([]int64, len(makers))
		for i := range makers {
			st.makers[i] = position(mk[i])
		}
	}
	return out, st, nil
}

// position reads a stamp's or the head's value, a decimal position: 0
// when absent or malformed.
func position(c *redis.StringCmd) int64 {
	s, err := c.Result()
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
