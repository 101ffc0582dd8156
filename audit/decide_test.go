package audit_test

import (
	"errors"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// Each way a listing can fail its badge has its own reason code: the
// three ways a commitment is withdrawn apart, and a maker absent from the
// registry apart from a listed maker whose commitments miss the product.
func TestDecideReasonCodes(t *testing.T) {
	at := now()
	key := client.ProductKey{GTIN: "06901234567892"}
	commitment := func(status client.CommitmentStatus, mod func(*client.Commitment)) *client.Commitment {
		c := &client.Commitment{ID: "C1", EnterpriseID: "E1", Status: status, EffectiveAt: at.AddDate(-1, 0, 0),
			StatusChangedAt: at.AddDate(0, -1, 0), VerifyURL: "https://verify.example/c/C1"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	listed := func(c *client.Commitment, ins ...client.Inspection) *client.ProductStatus {
		return &client.ProductStatus{Key: key, Listed: true, Enterprise: &client.Enterprise{ID: "E1"}, Commitment: c, Inspections: ins}
	}
	inspection := func(r client.InspectionResult) client.Inspection {
		return client.Inspection{ID: "I1", EnterpriseID: "E1", PublishedAt: at.AddDate(0, -2, 0), Result: r}
	}
	for _, c := range []struct {
		name string
		st   *client.ProductStatus
		v    client.Verdict
		code audit.ReasonCode
	}{
		{"active, no inspection", listed(commitment(client.CommitmentActive, nil)), client.VerdictCommitted, audit.CodeCommitted},
		{"latest inspection failed", listed(commitment(client.CommitmentActive, nil), inspection(client.InspectionFail)), client.VerdictInspectionFailed, audit.CodeFailedInspection},
		{"revoked", listed(commitment(client.CommitmentRevoked, nil)), client.VerdictWithdrawn, audit.CodeRevoked},
		{"suspended", listed(commitment(client.CommitmentSuspended, nil)), client.VerdictWithdrawn, audit.CodeSuspended},
		{"expired by status", listed(commitment(client.CommitmentExpired, nil)), client.VerdictWithdrawn, audit.CodeExpired},
		{"expired by date, still active", listed(commitment(client.CommitmentActive, func(c *client.Commitment) { c.ExpiresAt = at.AddDate(0, 0, -1) })),
			client.VerdictWithdrawn, audit.CodeExpired},
		{"not in force yet", listed(commitment(client.CommitmentActive, func(c *client.Commitment) { c.EffectiveAt = at.AddDate(0, 1, 0) })),
			client.VerdictNotListed, audit.CodeNotInForce},
		{"listed maker, product not covered", listed(nil), client.VerdictNotListed, audit.CodeNotCovered},
		{"maker not in the registry", &client.ProductStatus{Key: key}, client.VerdictNotListed, audit.CodeMakerNotListed},
		{"a status this SDK does not know", listed(commitment("frozen", nil)), client.VerdictUnknown, audit.CodeUnreadable},
	} {
		a := audit.Decide(key, c.st, at, 0)
		if a.Verdict != c.v || a.Code != c.code || a.Reason == "" {
			t.Errorf("%s: verdict %s, code %s, reason %q; want %s, %s", c.name, a.Verdict, a.Code, a.Reason, c.v, c.code)
		}
	}
	if a := audit.NoAnswer(key, errors.New("503")); a.Verdict != client.VerdictUnknown || a.Code != audit.CodeNoAnswer {
		t.Errorf("no answer: verdict %s, code %s; want unknown, %s", a.Verdict, a.Code, audit.CodeNoAnswer)
	}
	// Every code a finding can carry is told apart above.
	if len(audit.ReasonCodes) != 10 {
		t.Errorf("%d reason codes; the table covers 10", len(audit.ReasonCodes))
	}
}
