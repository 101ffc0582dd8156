package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The API's own headers. The registry pushes each change event as a POST
// whose body is the JSON Event and whose SignatureHeader is
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]": one v1 per secret the receiver
// has (several while a secret is being rotated), each an HMAC-SHA256 over
// "<t>.<body>". A report's access token travels in ReportTokenHeader: a
// header, so that it never sits in a URL the registry's access logs keep.
const (
	SignatureHeader   = "QC-Signature"
	EventIDHeader     = "QC-Event-Id"
	ReportTokenHeader = "Report-Token"
)

// Defaults and limits of webhook verification.
const (
	// DefaultWebhookTolerance is how far a push's timestamp may be from the
	// receiver's clock, either way, when WebhookVerifier.Tolerance is zero.
	DefaultWebhookTolerance = 5 * time.Minute
	// DefaultWebhookMaxBodySize bounds a push's body when
	// WebhookVerifier.MaxBodySize is zero. Events are a few KiB.
	DefaultWebhookMaxBodySize = 1 << 20
	// MaxWebhookHeaderSize and MaxWebhookSignatures bound the
	// SignatureHeader a verifier parses; a longer header, or one with more
	// v1 signatures, is rejected before any HMAC is computed.
	MaxWebhookHeaderSize = 4 << 10
	MaxWebhookSignatures = 16
)

// Webhook verification errors. Every error a [WebhookVerifier] returns
// matches exactly one of these with errors.Is. None of them quotes the
// header, the body or a secret.
var (
	// ErrWebhookBody: the signature verified but the body is not a JSON
	// Event with an id and a type — a fault of the registry, not a
	// forgery. The error unwraps to the error of encoding/json (or of a
	// field's decoder), which may quote the body; its message does not.
	ErrWebhookBody = errors.New("qcsdk: webhook body is not a valid event")
	// ErrWebhookNotSigned: there is no SignatureHeader (the header is empty),
	// or it parses but carries no v1 signature, only schemes this version
	// does not know.
	ErrWebhookNotSigned = errors.New("qcsdk: webhook push is not signed")
	// ErrWebhookMalformed: the header is there but is not
	// "t=<unix seconds>,v1=<64 lowercase hex digits>[,…]": no t or two of
	// them, a t that is not 1 to 12 decimal digits, an empty part, a part
	// that is not <scheme>=<value> with a scheme of ASCII letters, digits,
	// '_' or '-', a v1 that is not 64 lowercase hex digits (odd length and
	// upper case included, as the API specifies lowercase), more than
	// MaxWebhookSignatures v1 signatures, or more than MaxWebhookHeaderSize
	// bytes.
	ErrWebhookMalformed = errors.New("qcsdk: webhook signature header is malformed")
	// ErrWebhookBadSignature: no v1 signature is the HMAC of the body with
	// any of the verifier's secrets. The push is forged or tampered with,
	// or the receiver has the wrong secrets.
	ErrWebhookBadSignature = errors.New("qcsdk: no webhook signature matches")
	// ErrWebhookTooOld: the signature is valid but its timestamp is more
	// than the tolerance before now: a replay, or a push that was delayed.
	ErrWebhookTooOld = errors.New("qcsdk: webhook timestamp is too old")
	// ErrWebhookTooNew: the signature is valid but its timestamp is more
	// than the tolerance after now: a clock is wrong, the sender's or ours.
	ErrWebhookTooNew = errors.New("qcsdk: webhook timestamp is in the future")
	// ErrWebhookTooLarge: the body is larger than the verifier's
	// MaxBodySize; it is not hashed.
	ErrWebhookTooLarge = errors.New("qcsdk: webhook body is too large")
	// ErrWebhookMisconfigured: the verifier cannot verify anything: it has
	// no secrets, an empty secret, or a negative Tolerance or MaxBodySize.
	// This is a bug in the receiver, never a property of the push.
	ErrWebhookMisconfigured = errors.New("qcsdk: webhook verifier is misconfigured")
)

// webhookError is a verification error with a detail that never quotes
// its input. It unwraps to one of the sentinels.
type webhookError struct {
	sentinel error
	detail   string
}

func (e *webhookError) Error() string { return e.sentinel.Error() + ": " + e.detail }
func (e *webhookError) Unwrap() error { return e.sentinel }

func webhookErr(sentinel error, format string, args ...any) error {
	return &webhookError{sentinel: sentinel, detail: fmt.Sprintf(format, args...)}
}

// webhookDecodeError is the error of a push whose signature verified but
// whose body is not an Event: it matches ErrWebhookBody.
type webhookDecodeError struct {
	// EventID is the body's id when decoding got that far, cut to 64
	// bytes; often empty.
	EventID string
	Err     error
}

func (e *webhookDecodeError) Error() string {
	msg := "qcsdk: webhook body is not a valid event"
	if e.EventID != "" {
		msg += fmt.Sprintf(" (event %q)", e.EventID)
	}
	return msg + ": " + webhookDecodeReason(e.Err)
}

func (e *webhookDecodeError) Unwrap() error { return e.Err }

func (e *webhookDecodeError) Is(target error) bool { return target == ErrWebhookBody }

var (
	errEventNoID   = errors.New("event has no id")
	errEventNoType = errors.New("event has no type")
)

// webhookDecodeReason says what is wrong with a body without quoting it:
// json.SyntaxError quotes one character at most, but UnmarshalTypeError
// quotes numbers and time.ParseError whole strings, both unbounded.
func webhookDecodeReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	var id *answerIDError
	switch {
	case errors.Is(err, errEventNoID), errors.Is(err, errEventNoType):
		return err.Error()
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		kind, _, _ := strings.Cut(typ.Value, " ") // "number 1e999" → "number"
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %q: cannot decode a JSON %s into %s", webhookCut(field, 64), webhookCut(kind, 16), typ.Type)
	case errors.As(err, &tim):
		return "a time is not in RFC 3339 format"
	case errors.As(err, &id):
		// Named, not quoted: the identifier is body text.
		return "a " + id.kind + " is not a valid identifier (" + string(id.reason) + ")"
	default:
		return "a field has an invalid value"
	}
}

// webhookCut returns s cut to at most n bytes, on a rune boundary.
func webhookCut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SignWebhook returns the signature header value for a push of body at time
// t, with one signature per secret. Servers use it to push; tests use it to
// build pushes a receiver must accept.
func SignWebhook(body []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	out := make([]byte, 0, len("t=")+len(ts)+len(secrets)*(len(",v1=")+2*sha256.Size))
	out = append(out, "t="...)
	out = append(out, ts...)
	for _, s := range secrets {
		out = append(out, ",v1="...)
		out = hex.AppendEncode(out, webhookMAC([]byte(s), ts, body))
	}
	return string(out)
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a push with a [WebhookVerifier] that knows secrets
// and otherwise has the defaults, and returns its event. header is the
// value of the push's [SignatureHeader]:
//
//	ev, err := client.VerifyWebhook(body, r.Header.Get(client.SignatureHeader), secret)
//
// See [WebhookVerifier.Verify].
func VerifyWebhook(body []byte, header string, secrets ...string) (Event, error) {
	return WebhookVerifier{Secrets: secrets}.Verify(body, header)
}

// WebhookVerifier checks the signature of webhook pushes. Only Secrets is
// required; the zero value of every other field is its default. A verifier
// is a value: it is safe for concurrent use as long as nobody changes it,
// or the Secrets slice it holds, while it verifies.
//
// To rotate a secret, configure the new one next to the old one (the
// registry signs with both while the rotation lasts), then remove the old
// one once the registry no longer signs with it.
type WebhookVerifier struct {
	// Secrets are the webhook secrets the registry gave the receiver. A
	// push is accepted if any of its signatures matches any of them.
	Secrets []string
	// Tolerance is how far a push's timestamp may be from Now, earlier or
	// later (bounds included). Zero means DefaultWebhookTolerance.
	Tolerance time.Duration
	// Now is the receiver's clock; nil means time.Now.
	Now func() time.Time
	// MaxBodySize bounds the body; zero means DefaultWebhookMaxBodySize.
	MaxBodySize int64
}

func (v WebhookVerifier) check() error {
	if len(v.Secrets) == 0 {
		return webhookErr(ErrWebhookMisconfigured, "no secrets")
	}
	for i, s := range v.Secrets {
		if s == "" {
			return webhookErr(ErrWebhookMisconfigured, "secret %d of %d is empty", i+1, len(v.Secrets))
		}
	}
	if v.Tolerance < 0 {
		return webhookErr(ErrWebhookMisconfigured, "negative tolerance")
	}
	if v.MaxBodySize < 0 {
		return webhookErr(ErrWebhookMisconfigured, "negative maximum body size")
	}
	return nil
}

func (v WebhookVerifier) maxBody() int64 {
	if v.MaxBodySize == 0 {
		return DefaultWebhookMaxBodySize
	}
	return v.MaxBodySize
}

// Verify checks a push and returns its event. body is the request body
// exactly as received, before any parsing; header is the value of its
// [SignatureHeader] ("" when there is none).
//
// The push is accepted when one of its v1 signatures is the HMAC-SHA256 of
// "<t>.<body>" with one of v.Secrets (compared in constant time), and its
// timestamp t is within v.Tolerance of v.Now. Parts of the header in
// schemes other than t and v1 are ignored, as are spaces around parts;
// everything else is strict (see [ErrWebhookMalformed]). The signature is
// checked before the timestamp, so that a timestamp error is only ever
// reported for an authentic push.
//
// Only then is the body decoded; a body that is not an Event with an id and
// a type matches [ErrWebhookBody]. Every error matches one of the
// ErrWebhook sentinels. No error quotes the header, the body or a secret.
//
// Verify does not deduplicate: the registry delivers at least once, so the
// same event (same ID) may arrive more than once, and what the receiver
// does with it must be idempotent.
func (v WebhookVerifier) Verify(body []byte, header string) (Event, error) {
	if err := v.check(); err != nil {
		return Event{}, err
	}
	if limit := v.maxBody(); int64(len(body)) > limit {
		return Event{}, webhookErr(ErrWebhookTooLarge, "%d bytes, limit %d", len(body), limit)
	}
	sh, err := parseSignatureHeader(header)
	if err != nil {
		return Event{}, err
	}

	matched := false
	for _, s := range v.Secrets {
		want := webhookMAC([]byte(s), sh.ts, body)
		for i := range sh.n {
			if hmac.Equal(want, sh.sigs[i][:]) {
				matched = true
			}
		}
	}
	if !matched {
		return Event{}, webhookErr(ErrWebhookBadSignature, "%d signature(s), %d secret(s)", sh.n, len(v.Secrets))
	}

	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultWebhookTolerance
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// Compare instants, not a difference: a Duration saturates at ±292
	// years, and negating the minimum one overflows.
	at, n := time.Unix(sh.unix, 0), now()
	switch {
	case at.Before(n.Add(-tol)):
		return Event{}, webhookErr(ErrWebhookTooOld, "signed %s ago, tolerance %s", n.Sub(at).Round(time.Second), tol)
	case at.After(n.Add(tol)):
		return Event{}, webhookErr(ErrWebhookTooNew, "signed %s ahead, tolerance %s", at.Sub(n).Round(time.Second), tol)
	}

	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Event{}, &webhookDecodeError{EventID: webhookCut(ev.ID, 64), Err: fromAnswer(err)}
	}
	switch {
	case ev.ID == "":
		return Event{}, &webhookDecodeError{Err: errEventNoID}
	case ev.Type == "":
		return Event{}, &webhookDecodeError{EventID: webhookCut(ev.ID, 64), Err: errEventNoType}
	}
	return ev, nil
}

// signatureHeader is a parsed SignatureHeader, a value with room for
// every signature: parsing allocates nothing but errors.
type signatureHeader struct {
	ts   string // t exactly as sent, which the signatures cover
	unix int64
	sigs [MaxWebhookSignatures][sha256.Size]byte
	n    int
}

func parseSignatureHeader(h string) (sh signatureHeader, err error) {
	if len(h) > MaxWebhookHeaderSize {
		return sh, webhookErr(ErrWebhookMalformed, "%d bytes, limit %d", len(h), MaxWebhookHeaderSize)
	}
	if strings.Trim(h, " \t") == "" {
		return sh, webhookErr(ErrWebhookNotSigned, "no %s header", SignatureHeader)
	}
	haveT := false
	for i, rest := 1, h; ; i++ {
		part, more, found := strings.Cut(rest, ",")
		part = strings.Trim(part, " \t")
		key, val, ok := strings.Cut(part, "=")
		if !ok || !isWebhookScheme(key) {
			return sh, webhookErr(ErrWebhookMalformed, "part %d is not <scheme>=<value>", i)
		}
		switch key {
		case "t":
			if haveT {
				return sh, webhookErr(ErrWebhookMalformed, "more than one t")
			}
			if len(val) < 1 || len(val) > 12 || strings.Trim(val, "0123456789") != "" {
				return sh, webhookErr(ErrWebhookMalformed, "t is not 1 to 12 decimal digits")
			}
			sh.ts, haveT = val, true
			sh.unix, _ = strconv.ParseInt(val, 10, 64) // 12 digits cannot overflow
		case "v1":
			if sh.n == MaxWebhookSignatures {
				return sh, webhookErr(ErrWebhookMalformed, "more than %d signatures", MaxWebhookSignatures)
			}
			if len(val) != 2*sha256.Size || !isWebhookHex(val) {
				return sh, webhookErr(ErrWebhookMalformed, "signature %d is not %d lowercase hex digits", sh.n+1, 2*sha256.Size)
			}
			hex.Decode(sh.sigs[sh.n][:], []byte(val)) // checked above
			sh.n++
		}
		if !found {
			break
		}
		rest = more
	}
	if !haveT {
		return sh, webhookErr(ErrWebhookMalformed, "no t")
	}
	if sh.n == 0 {
		return sh, webhookErr(ErrWebhookNotSigned, "no v1 signature")
	}
	return sh, nil
}

// isWebhookScheme reports whether s is a non-empty run of ASCII letters,
// digits, '_' and '-': a scheme this version may not know, but not garbage.
func isWebhookScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isWebhookHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// WebhookHandler returns an http.Handler that receives the registry's
// pushes: it verifies each with v and hands its event to apply.
//
//	v := client.WebhookVerifier{Secrets: []string{os.Getenv("QC_WEBHOOK_SECRET")}}
//	mux.Handle("/qc/webhook", client.WebhookHandler(v, apply))
//
// It answers:
//
//   - 405 to anything but POST;
//   - 413 to a body over v.MaxBodySize (default 1 MiB), unread past it;
//   - 401 to a push that fails verification (not signed, malformed,
//     bad signature, timestamp out of tolerance);
//   - 400 to a push that verifies but whose body is not an event;
//   - 500 when apply returns an error, so that the registry retries;
//   - 204 when apply returns nil.
//
// Error answers are short plain text that never echoes the request. apply
// runs with the request's context; it should finish within the 10 s the
// registry waits for an answer (apply can hand the event to a queue). The
// registry delivers at least once, so the same event may arrive again,
// and concurrently: apply must be idempotent, deduplicating by Event.ID or
// by the record's version.
//
// The handler is safe for concurrent use; it keeps its own copy of
// v.Secrets. WebhookHandler panics if v is misconfigured (see
// [ErrWebhookMisconfigured]) or apply is nil: the receiver could verify
// nothing, and would answer every push with an error.
func WebhookHandler(v WebhookVerifier, apply func(ctx context.Context, ev Event) error) http.Handler {
	if err := v.check(); err != nil {
		panic("qcsdk: WebhookHandler: " + err.Error())
	}
	if apply == nil {
		panic("qcsdk: WebhookHandler: apply is nil")
	}
	v.Secrets = append([]string(nil), v.Secrets...)
	return &webhookHandler{v: v, apply: apply}
}

type webhookHandler struct {
	v     WebhookVerifier
	apply func(context.Context, Event) error
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	limit := h.v.maxBody()
	if r.ContentLength > limit {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	header := ""
	switch hs := r.Header.Values(SignatureHeader); len(hs) {
	case 0:
	case 1:
		header = hs[0]
	default:
		http.Error(w, "signature: more than one "+SignatureHeader+" header", http.StatusUnauthorized)
		return
	}
	ev, err := h.v.Verify(body, header)
	if err != nil {
		code, reason := webhookAnswer(err)
		http.Error(w, reason, code)
		return
	}
	if err := h.apply(r.Context(), ev); err != nil {
		http.Error(w, "event not applied", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookAnswer maps a Verify error to a status and a fixed reason.
func webhookAnswer(err error) (int, string) {
	switch {
	case errors.Is(err, ErrWebhookNotSigned):
		return http.StatusUnauthorized, "signature: not signed"
	case errors.Is(err, ErrWebhookMalformed):
		return http.StatusUnauthorized, "signature: malformed header"
	case errors.Is(err, ErrWebhookBadSignature):
		return http.StatusUnauthorized, "signature: no match"
	case errors.Is(err, ErrWebhookTooOld):
		return http.StatusUnauthorized, "signature: timestamp too old"
	case errors.Is(err, ErrWebhookTooNew):
		return http.StatusUnauthorized, "signature: timestamp in the future"
	case errors.Is(err, ErrWebhookTooLarge):
		return http.StatusRequestEntityTooLarge, "body too large"
	}
	var de *webhookDecodeError
	if errors.As(err, &de) {
		return http.StatusBadRequest, "body is not an event"
	}
	return http.StatusInternalServerError, "receiver misconfigured"
}
