package client

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/qualitycommit/qcsdk/internal/locale"
)

// Text is a piece of registry text in the two languages the regulator
// publishes. ZH is always present; EN is empty when the regulator published
// no English text.
type Text struct {
	ZH string `json:"zh"`
	EN string `json:"en,omitempty"`
}

// In returns the text for a BCP 47 tag: English for any English tag ("en",
// "en-AU"), Chinese, the registry's language of record, for every other
// tag and when there is no English. Every package of the SDK reads tags
// this one way.
func (t Text) In(tag string) string {
	if t.EN != "" && locale.Of(tag) == locale.EN {
		return t.EN
	}
	return t.ZH
}

// Category is a product category of the registry. Categories are data: the
// registry adds new ones without a release of this SDK.
type Category struct {
	Code      string    `json:"code"`
	Name      Text      `json:"name"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Enterprise is a maker on the quality-commitment list.
type Enterprise struct {
	ID         string    `json:"id"`
	USCC       USCC      `json:"uscc"`
	Name       Text      `json:"name"`
	RegionCode string    `json:"region_code"` // GB/T 2260 administrative division code
	Region     Text      `json:"region"`
	Categories []string  `json:"categories"`
	ListedAt   time.Time `json:"listed_at"`
	Version    int64     `json:"version"`
	UpdatedAt  time.Time `json:"updated_at"`
	VerifyURL  string    `json:"verify_url"`
}

// CommitmentStatus is the state of a commitment. The registry may add states;
// an unrecognised one is kept as is and never read as active.
type CommitmentStatus string

// Commitment states known to this version of the SDK.
const (
	CommitmentActive    CommitmentStatus = "active"
	CommitmentSuspended CommitmentStatus = "suspended"
	CommitmentRevoked   CommitmentStatus = "revoked"
	CommitmentExpired   CommitmentStatus = "expired"
)

// Known reports whether s is a state this version of the SDK understands.
func (s CommitmentStatus) Known() bool {
	switch s {
	case CommitmentActive, CommitmentSuspended, CommitmentRevoked, CommitmentExpired:
		return true
	}
	return false
}

// Scope says which products a commitment covers. A product is covered when
// its brand is listed and, if Models is not empty, its model is listed; or
// when its GTIN starts with one of GTINPrefixes.
type Scope struct {
	Brands       []string `json:"brands,omitempty"`
	Models       []string `json:"models,omitempty"`
	GTINPrefixes []string `json:"gtin_prefixes,omitempty"`
}

// Covers reports whether the scope covers a product with that GTIN, brand
// and model (any may be empty). GTIN prefixes are GS1 company prefixes,
// matched against the 13-digit form of a 14-digit GTIN whose indicator
// digit is 0.
func (s Scope) Covers(gtin GTIN, brand, model string) bool {
	if g := string(gtin); g != "" {
		if len(g) == 14 && g[0] == '0' {
			g = g[1:]
		}
		for _, p := range s.GTINPrefixes {
			if p != "" && len(g) >= len(p) && g[:len(p)] == p {
				return true
			}
		}
	}
	if brand == "" {
		return false
	}
	for _, b := range s.Brands {
		if b == brand {
			if len(s.Models) == 0 {
				return true
			}
			for _, m := range s.Models {
				if m == model {
					return true
				}
			}
			return false
		}
	}
	return false
}

// CommitmentItem is one promise of a commitment, such as conformity to a
// national standard or a return guarantee.
type CommitmentItem struct {
	Kind     string `json:"kind"`               // "standard", "return", "repair", "warranty", "labelling", … (data, may grow)
	Standard string `json:"standard,omitempty"` // e.g. "GB 4706.1-2005" when Kind is "standard"
	Text     Text   `json:"text"`
}

// Commitment is what an enterprise promised for one product category.
type Commitment struct {
	ID              string           `json:"id"`
	EnterpriseID    string           `json:"enterprise_id"`
	Category        string           `json:"category"`
	Scope           Scope            `json:"scope"`
	Items           []CommitmentItem `json:"items"`
	EffectiveAt     time.Time        `json:"effective_at"` // the commitment is in force from then on
	ExpiresAt       time.Time        `json:"expires_at"`   // and until then; the zero time means no end
	Status          CommitmentStatus `json:"status"`
	StatusChangedAt time.Time        `json:"status_changed_at"`
	StatusReason    *Text            `json:"status_reason,omitempty"`
	Version         int64            `json:"version"`
	UpdatedAt       time.Time        `json:"updated_at"`
	VerifyURL       string           `json:"verify_url"`
}

// InspectionResult is the outcome of a law-enforcement sampling. The
// registry may add results; an unrecognised one is kept as is.
type InspectionResult string

// Inspection results known to this version of the SDK.
const (
	InspectionPass    InspectionResult = "pass"
	InspectionFail    InspectionResult = "fail"
	InspectionPending InspectionResult = "pending"
)

// Known reports whether r is a result this version of the SDK understands.
func (r InspectionResult) Known() bool {
	switch r {
	case InspectionPass, InspectionFail, InspectionPending:
		return true
	}
	return false
}

// SampledProduct is the product an inspection took samples of.
type SampledProduct struct {
	Name  Text   `json:"name"`
	Brand string `json:"brand"`
	Model string `json:"model,omitempty"`
	Batch string `json:"batch,omitempty"`
	GTIN  GTIN   `json:"gtin,omitempty"`
}

// FailedItem is one test item an inspected sample did not meet.
type FailedItem struct {
	Item        Text   `json:"item"`
	Requirement string `json:"requirement"`
	Measured    string `json:"measured"`
}

// Rectification is the follow-up the authority ordered after a failure.
type Rectification struct {
	Status      string     `json:"status"` // "ordered", "in_progress", "completed", … (data, may grow)
	Deadline    time.Time  `json:"deadline"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Note        *Text      `json:"note,omitempty"`
}

// Inspection is one law-enforcement sampling result.
type Inspection struct {
	ID            string           `json:"id"`
	EnterpriseID  string           `json:"enterprise_id"`
	Category      string           `json:"category"`
	Product       SampledProduct   `json:"product"`
	Authority     Text             `json:"authority"`
	SampledAt     time.Time        `json:"sampled_at"`
	PublishedAt   time.Time        `json:"published_at"`
	Result        InspectionResult `json:"result"`
	FailedItems   []FailedItem     `json:"failed_items,omitempty"`
	ReportNo      string           `json:"report_no"`
	Rectification *Rectification   `json:"rectification,omitempty"`
	Version       int64            `json:"version"`
	UpdatedAt     time.Time        `json:"updated_at"`
	VerifyURL     string           `json:"verify_url"`
}

// Case is a published typical enforcement case, such as counterfeit branded
// goods sold on a platform.
type Case struct {
	ID          string    `json:"id"`
	Title       Text      `json:"title"`
	Summary     Text      `json:"summary"`
	Category    string    `json:"category,omitempty"`
	Brand       string    `json:"brand"`
	Platform    string    `json:"platform,omitempty"`
	Authority   Text      `json:"authority"`
	PublishedAt time.Time `json:"published_at"`
	// Clues counts the reports that led to the case, by reporter kind.
	Clues     ClueCounts `json:"clues"`
	Version   int64      `json:"version"`
	UpdatedAt time.Time  `json:"updated_at"`
	VerifyURL string     `json:"verify_url"`
}

// ProductKey is how a platform names a product: a GTIN, or the maker's USCC
// with the brand and model. Exactly one of the two forms is set.
//
// A key is validated where it is used, not where it is decoded: every
// lookup refuses a bad key with a [*KeyError], and a key in an answer is
// compared with the canonical key that was sent. Decoding takes the GTIN
// and USCC as they are written, because the contract's key is lax on
// purpose: one bad key in a batch request is one problem answered for that
// key, echoed as sent, not a refused request or a refused answer.
type ProductKey struct {
	GTIN  GTIN   `json:"gtin,omitempty"`
	USCC  USCC   `json:"uscc,omitempty"`
	Brand string `json:"brand,omitempty"`
	Model string `json:"model,omitempty"`
}

// UnmarshalJSON decodes a key without validating it (see [ProductKey]).
func (k *ProductKey) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var raw struct {
		GTIN  string `json:"gtin"`
		USCC  string `json:"uscc"`
		Brand string `json:"brand"`
		Model string `json:"model"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*k = ProductKey{GTIN: GTIN(raw.GTIN), USCC: USCC(raw.USCC), Brand: raw.Brand, Model: raw.Model}
	return nil
}

// Product is what the registry knows of a listed product.
type Product struct {
	Name     Text   `json:"name"`
	Brand    string `json:"brand"`
	Model    string `json:"model,omitempty"`
	GTIN     GTIN   `json:"gtin,omitempty"`
	Category string `json:"category"`
}

// ProductStatus is the registry's answer for one product key: whether its
// maker is listed, the commitment covering it, and its recent inspections.
// The badge verdict is derived from it by [Decide].
type ProductStatus struct {
	Key        ProductKey  `json:"key"`
	Listed     bool        `json:"listed"`
	Product    *Product    `json:"product,omitempty"`
	Enterprise *Enterprise `json:"enterprise,omitempty"`
	// Commitment is the commitment whose scope covers the product, in
	// whatever state it is; nil when none does.
	Commitment *Commitment `json:"commitment,omitempty"`
	// Inspections are the product's most recent inspections, newest
	// published first (at most five). The newest decided one (pass or
	// fail) is always among them, however many pending ones follow it.
	Inspections []Inspection `json:"inspections,omitempty"`
	// Version grows whenever anything above changes; it is the largest
	// version of the records the status is made of, 0 when it is made of
	// none (a product no record names).
	Version int64 `json:"version"`
	// UpdatedAt is when the latest of those records changed; zero, and
	// absent from the JSON, when there is none, as the contract says.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	VerifyURL string    `json:"verify_url,omitempty"`
	// Proof is what a third party needs to check the status against the
	// registry's log, offline (VerifyStatus): a signed checkpoint and, for
	// each record above, its position and inclusion proof. Nil when the
	// status is made of no record, which has nothing to prove. The
	// ProductsService verified it before returning the status.
	Proof *StatusProof `json:"proof,omitempty"`
}

// StatusProof shows that the records a ProductStatus is made of are the
// registry's: each is a leaf of its log, under a checkpoint the registry
// signed. The leaf of a record is recomputed from the record itself
// (LogLeaf), so a record rewritten on its way does not verify.
type StatusProof struct {
	// Checkpoint is the signed checkpoint the proofs lead to, as the
	// registry signed it (a note: origin, size and root hash, then the
	// signatures). A batch answer carries it once for all its statuses;
	// the client puts it in each status's proof, the same string shared.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Records are the status's records in its order: the enterprise, the
	// commitment, then the inspections.
	Records []RecordProof `json:"records"`
	// Consistency, in an answer to a request that named the size of the
	// checkpoint its reader last verified (log_size), shows that the
	// answer's checkpoint extends that one. It is the asking reader's
	// business alone: the client checks it and then drops it.
	Consistency *ConsistencyProof `json:"consistency,omitempty"`
}

// RecordProof places one record of a status in the registry's log: the
// record of that kind and id, at its version Seq, is leaf Seq-1 of the
// checkpoint's tree, by the inclusion proof Proof.
type RecordProof struct {
	Kind string `json:"kind"` // "enterprise", "commitment" or "inspection"
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
	// Proof holds the hashes of the inclusion proof in the tree the
	// checkpoint states.
	Proof []LogHash `json:"proof"`
}

// EventType names a change in the registry. The registry may add types.
type EventType string

// Event types known to this version of the SDK. A status change of a
// commitment other than a revocation (suspension, reinstatement, expiry) is
// a commitment.updated event; the record says the new status.
const (
	EventEnterpriseUpdated   EventType = "enterprise.updated"
	EventEnterpriseDelisted  EventType = "enterprise.delisted"
	EventCommitmentPublished EventType = "commitment.published"
	EventCommitmentUpdated   EventType = "commitment.updated"
	EventCommitmentRevoked   EventType = "commitment.revoked"
	EventInspectionPublished EventType = "inspection.published"
	EventInspectionUpdated   EventType = "inspection.updated"
	EventCasePublished       EventType = "case.published"
	EventCaseUpdated         EventType = "case.updated"
	EventCategoryPublished   EventType = "category.published"
	// EventReportStatusChanged reaches only the platform that filed the
	// report; Event.Report says the new step.
	EventReportStatusChanged EventType = "report.status_changed"
)

// Event is one entry of the change feed; webhook pushes carry the same
// object. Exactly one of the record fields is set, matching Type; it holds
// the record as it is after the change.
type Event struct {
	ID string `json:"id"`
	// Seq is the change's position in the registry's change sequence: one
	// more than the change before it. The record's Version equals it.
	Seq        int64     `json:"seq"`
	Cursor     string    `json:"cursor"`
	Type       EventType `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`

	Enterprise *Enterprise   `json:"enterprise,omitempty"`
	Commitment *Commitment   `json:"commitment,omitempty"`
	Inspection *Inspection   `json:"inspection,omitempty"`
	Case       *Case         `json:"case,omitempty"`
	Category   *Category     `json:"category,omitempty"`
	Report     *ReportChange `json:"report,omitempty"`
}

// ReportKind is what a shopper suspects of a listing.
type ReportKind string

// Report kinds known to this version of the SDK.
const (
	ReportCounterfeit ReportKind = "counterfeit"
	ReportSubstandard ReportKind = "substandard"
	ReportFalseClaim  ReportKind = "false_claim"
	ReportOther       ReportKind = "other"
)

// ReporterKind says who filed a report: a shopper, or the owner of the
// brand or right the listing infringes. The registry may add kinds.
type ReporterKind string

// Reporter kinds known to this version of the SDK.
const (
	ReporterConsumer     ReporterKind = "consumer"
	ReporterRightsHolder ReporterKind = "rights_holder"
)

// ReportStatus is where a report is in its lifecycle: received, forwarded
// to an enforcement authority, under investigation, closed. The registry
// may add statuses; treat an unknown one as still open.
type ReportStatus string

// Report statuses known to this version of the SDK, in lifecycle order.
const (
	ReportReceived           ReportStatus = "received"
	ReportForwarded          ReportStatus = "forwarded"
	ReportUnderInvestigation ReportStatus = "under_investigation"
	ReportClosed             ReportStatus = "closed"
)

// ReportOutcome is how a closed report ended. The registry may add
// outcomes.
type ReportOutcome string

// Report outcomes known to this version of the SDK.
const (
	// OutcomeCasePublished: the report led to a typical case (CaseID).
	OutcomeCasePublished ReportOutcome = "case_published"
	// OutcomeNotSubstantiated: the authority found no violation.
	OutcomeNotSubstantiated ReportOutcome = "not_substantiated"
	// OutcomeOutsideScope: the matter is not one the registry's
	// authorities handle.
	OutcomeOutsideScope ReportOutcome = "outside_scope"
)

// ReportToken is a report's private access token: whoever holds it may
// read the report's lifecycle, so it is a secret. It prints as
// "[redacted]" through fmt and log/slog; string(t) is the value, for the
// one place it belongs (the reporter's status link).
type ReportToken string

// String hides the token from fmt.
func (t ReportToken) String() string {
	if t == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the token from %#v.
func (t ReportToken) GoString() string { return `client.ReportToken("` + t.String() + `")` }

// LogValue hides the token from log/slog.
func (t ReportToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// ReportParams is a shopper's report of a suspected fake or sub-standard
// listing, as a platform submits it.
type ReportParams struct {
	Product     ProductKey `json:"product"`
	Kind        ReportKind `json:"kind"`
	ListingURL  string     `json:"listing_url"`
	Platform    string     `json:"platform"`
	Description string     `json:"description"`
	Contact     string     `json:"contact,omitempty"`
}

// ReportStep is one step of a report's lifecycle, with when it happened.
type ReportStep struct {
	Status ReportStatus `json:"status"`
	At     time.Time    `json:"at"`
	// Authority is the enforcement authority a forwarded report went to.
	Authority *Text `json:"authority,omitempty"`
	// Outcome and CaseID are set on the closing step.
	Outcome ReportOutcome `json:"outcome,omitempty"`
	CaseID  string        `json:"case_id,omitempty"`
}

// Report is a report (a clue) the registry has received, and what has
// become of it since.
type Report struct {
	ID           string       `json:"id"`
	ReporterKind ReporterKind `json:"reporter_kind"`
	Product      ProductKey   `json:"product"`
	Kind         ReportKind   `json:"kind"`
	ListingURL   string       `json:"listing_url,omitempty"`
	ListingIDs   []string     `json:"listing_ids,omitempty"`
	EvidenceURLs []string     `json:"evidence_urls,omitempty"`
	Platform     string       `json:"platform"`
	Description  string       `json:"description"`
	Status       ReportStatus `json:"status"`
	// Outcome and CaseID are set once the report is closed.
	Outcome ReportOutcome `json:"outcome,omitempty"`
	CaseID  string        `json:"case_id,omitempty"`
	// Steps is the lifecycle so far, oldest first; the last is Status.
	Steps     []ReportStep `json:"steps"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
	// AccessToken is set only in the answer to filing: the reporter's
	// key to the report (ReportsService.Get). The registry never shows it
	// again; keep it where the reporter's status link can be rebuilt.
	AccessToken ReportToken `json:"access_token,omitempty"`
}

// LogValue logs a report by its id and where it is, never its token nor
// what the reporter wrote: a *slog.Logger's JSON handler would otherwise
// write every field.
func (r Report) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", r.ID),
		slog.String("reporter_kind", string(r.ReporterKind)),
		slog.String("status", string(r.Status)),
		slog.String("outcome", string(r.Outcome)),
	)
}

// ReportChange is the registry's notice that a report moved on, as the
// change feed and webhooks carry it to the platform that filed the report
// (and to no one else). It names the report and its new step, never what
// the reporter wrote or who they are.
type ReportChange struct {
	ID           string        `json:"id"`
	ReporterKind ReporterKind  `json:"reporter_kind"`
	Status       ReportStatus  `json:"status"`
	Outcome      ReportOutcome `json:"outcome,omitempty"`
	CaseID       string        `json:"case_id,omitempty"`
	At           time.Time     `json:"at"`
}

// ClueCounts says how many reports of each kind of reporter led to a case.
type ClueCounts struct {
	Consumer     int `json:"consumer"`
	RightsHolder int `json:"rights_holder"`
}

// Problem is an RFC 9457 problem document, the body of every error response.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail,omitempty"`
	Instance  string         `json:"instance,omitempty"`
	Code      string         `json:"code"`
	RequestID string         `json:"request_id,omitempty"`
	Errors    []ProblemField `json:"errors,omitempty"`
}

// ProblemField points at one invalid field of a request.
type ProblemField struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Stable problem codes. Clients branch on these, never on titles or details.
const (
	CodeNotFound             = "not_found"
	CodeInvalidGTIN          = "invalid_gtin"
	CodeInvalidUSCC          = "invalid_uscc"
	CodeInvalidParameter     = "invalid_parameter"
	CodeInvalidCursor        = "invalid_cursor"
	CodeInvalidBody          = "invalid_body"
	CodeTooManyKeys          = "too_many_keys"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnauthorized         = "unauthorized"
	CodeRateLimited          = "rate_limited"
	CodeIdempotencyConflict  = "idempotency_conflict"
	CodeUnavailable          = "unavailable"
	CodeInternal             = "internal"
	CodeDuplicateInBatch     = "duplicate_in_batch"
)

// BatchRequest is the body of a batch product lookup.
type BatchRequest struct {
	Keys []ProductKey `json:"keys"`
}

// The contract's limits on the items of one call.
const (
	MaxBatchKeys = 100 // keys of one batch lookup (ProductsService.Batch sends more in several calls)
	MaxClues     = 100 // clues of one ReportsService.CreateBatch call
)

// BatchResult is the answer for one key of a batch lookup: a status, or a
// problem when the key was invalid.
type BatchResult struct {
	Key ProductKey `json:"key"`
	// AsOf is the registry's position in its change sequence the result
	// reflects (see Response.AsOf).
	AsOf   int64          `json:"as_of"`
	Status *ProductStatus `json:"status,omitempty"`
	Error  *Problem       `json:"error,omitempty"`
}

// BatchResponse is the answer of a batch product lookup: one result per
// key, and the log's checkpoint that every result's proof leads to, with
// the consistency proof from the size the request named (log_size).
type BatchResponse struct {
	Data        []BatchResult     `json:"data"`
	Checkpoint  string            `json:"checkpoint,omitempty"`
	Consistency *ConsistencyProof `json:"consistency,omitempty"`
}

// List is one page of a list endpoint. NextCursor is empty on the last page.
type List[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ChangePage is one answer of the change feed. NextCursor is always set:
// pass it as "after" to continue, even when Data is empty.
//
// It reads as a List (Data, NextCursor) but does not embed one: a list's
// last page leaves next_cursor out, the feed's answers always carry it,
// and the contract's schemas hold each model's required properties to its
// fields without omitempty. An embedded List would make next_cursor
// optional here.
type ChangePage struct {
	Data       []Event `json:"data"`
	NextCursor string  `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}
