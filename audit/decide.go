package audit

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/qualitycommit/qcsdk/client"
)

// ReasonCode says in one word why a listing has its verdict: finer than
// the verdict, so that a team can act on each kind apart and filter by it.
type ReasonCode string

// The reason codes. The first matches verdict committed; the next five
// say what withdrew or failed; the next three why a listing is
// not_listed; the last two why it is unknown.
const (
	CodeCommitted        ReasonCode = "committed"
	CodeFailedInspection ReasonCode = "failed_inspection" // the latest inspection failed
	CodeRevoked          ReasonCode = "revoked"
	CodeSuspended        ReasonCode = "suspended"
	CodeExpired          ReasonCode = "expired"
	CodeNotCovered       ReasonCode = "not_covered"      // the maker is listed, but no commitment covers the product
	CodeNotInForce       ReasonCode = "not_in_force"     // the commitment covering it is not in force yet
	CodeMakerNotListed   ReasonCode = "maker_not_listed" // the maker is not in the registry
	CodeNoAnswer         ReasonCode = "no_answer"        // the registry did not answer: unknown, never a guess
	CodeUnreadable       ReasonCode = "unreadable"       // an answer this SDK cannot read
)

// ReasonCodes lists the reason codes, in the order above.
var ReasonCodes = []ReasonCode{CodeCommitted, CodeFailedInspection, CodeRevoked, CodeSuspended, CodeExpired,
	CodeNotCovered, CodeNotInForce, CodeMakerNotListed, CodeNoAnswer, CodeUnreadable}

// NoAnswer is the answer for a key the registry did not answer: verdict
// unknown, with the cause as the reason.
func NoAnswer(k client.ProductKey, cause error) Answer {
	return Answer{Key: k, Verdict: client.VerdictUnknown, Code: CodeNoAnswer, Reason: "lookup failed: " + cause.Error()}
}

// Decide is the audit's answer for a key the registry answered with st:
// client.Decide's verdict at now, the reason in English words, and the
// records behind it. A change-driven audit (package audit/watch) decides
// with it too, so that a listing re-decided on a change reads as a full
// audit would have written it.
func Decide(k client.ProductKey, st *client.ProductStatus, now time.Time, lookback time.Duration) Answer {
	d := client.Decide(st, now, lookback)
	a := Answer{Key: k, Verdict: d.Verdict, VerifyURL: st.VerifyURL}
	if st.Enterprise != nil {
		a.EnterpriseID = st.Enterprise.ID
	}
	c, in := d.Commitment, d.Inspection
	if c != nil {
		a.CommitmentID = c.ID
		if c.VerifyURL != "" {
			a.VerifyURL = c.VerifyURL
		}
	}
	if in != nil {
		a.InspectionID = in.ID
		if d.Verdict == client.VerdictInspectionFailed && in.VerifyURL != "" {
			a.VerifyURL = in.VerifyURL
		}
	}
	switch d.Verdict {
	case client.VerdictCommitted:
		a.Code = CodeCommitted
		if in != nil {
			a.Reason = fmt.Sprintf("an active commitment covers the product; its latest inspection, published %s, passed", day(in.PublishedAt))
		} else {
			a.Reason = "an active commitment covers the product; no inspection in the look-back window"
		}
	case client.VerdictInspectionFailed:
		a.Code = CodeFailedInspection
		a.Reason = fmt.Sprintf("an active commitment covers the product, but its latest inspection, published %s, failed", day(in.PublishedAt))
		if len(in.FailedItems) > 0 {
			a.Reason += ": " + text(in.FailedItems[0].Item)
			if n := len(in.FailedItems) - 1; n > 0 {
				a.Reason += fmt.Sprintf(" and %d more item(s)", n)
			}
		}
	case client.VerdictWithdrawn:
		switch d.Status {
		case client.CommitmentRevoked:
			a.Code = CodeRevoked
		case client.CommitmentSuspended:
			a.Code = CodeSuspended
		default:
			a.Code = CodeExpired
		}
		if d.Status == client.CommitmentExpired && c.Status == client.CommitmentActive {
			a.Reason = fmt.Sprintf("the commitment expired on %s", day(d.Since))
		} else {
			a.Reason = fmt.Sprintf("the commitment was %s on %s", d.Status, day(d.Since))
			if c.StatusReason != nil {
				a.Reason += ": " + text(*c.StatusReason)
			}
		}
	case client.VerdictNotListed:
		switch {
		case !st.Listed:
			a.Code, a.Reason = CodeMakerNotListed, "the maker is not on the quality-commitment list"
		case c == nil:
			a.Code, a.Reason = CodeNotCovered, "the maker is listed, but no commitment covers the product"
		default:
			a.Code = CodeNotInForce
			a.Reason = fmt.Sprintf("the commitment covering the product is not in force until %s", day(c.EffectiveAt))
		}
	default:
		a.Code = CodeUnreadable
		switch {
		case c != nil && !c.Status.Known():
			a.Reason = fmt.Sprintf("the registry gives the commitment a status this SDK does not know: %q", clean(string(c.Status)))
		case in != nil:
			a.Reason = fmt.Sprintf("the latest inspection has a result this SDK does not know: %q", clean(string(in.Result)))
		default:
			a.Reason = "the registry's answer cannot be read"
		}
	}
	return a
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// text is registry text for a reason: English when there is some, on one
// line, valid UTF-8.
func text(t client.Text) string { return clean(t.In("en")) }

// clean makes untrusted text fit a one-line reason: valid UTF-8, control
// characters as spaces, at most 200 bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
