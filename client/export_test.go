package client

// VerifyCosts reports what c's verification has cost so far: the
// checkpoint signatures it checked and the record leaves it made.
func VerifyCosts(c *Client) (sigChecks, leaves int64) {
	return c.trust.sigChecks.Load(), c.trust.leaves.Load()
}

// VerifyRecords checks st's records against cp, whose signature is taken
// as verified: the per-status cost of verifying, for benchmarks.
func VerifyRecords(st *ProductStatus, cp *Checkpoint) error {
	return verifyRecords(st, statusRecords(st), cp, nil)
}
