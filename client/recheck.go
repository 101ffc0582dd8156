package client

import (
	"context"
	"fmt"
)

// VerifyCached checks a product status that a cache read back from a
// tier it shares with others — a fleet's Redis, which any server, or
// anyone who can write to it, may have written — before it is served: as
// the client's own answers are checked, with the client's keys (fetched
// as they are for answers; see WithLogKeys), its checkpoint's signature,
// each record's inclusion, and the status's own fields against its
// records. A checkpoint of a size the client's latest checkpoint has been
// (see LatestCheckpoint, TrustCheckpoint; the last few hundred) must have
// its root; one of another size is taken on its signature, as no proof of
// its consistency comes
// with a cached status, and asking the registry for one on a page's
// path would cost every page a round trip. A fork the registry shows to
// some readers only is the fleet's follower's to catch (see
// cache.Follow), and every server then refuses every answer.
//
// A status that fails is a *VerifyError, counted in Stats().LogFailures
// and logged once per cause, as a refused answer is; any other error
// (the keys could not be fetched) is returned as it is, and says nothing
// of the status. Signatures are checked once per checkpoint, and a status
// made of no record has nothing to prove.
func (c *Client) VerifyCached(ctx context.Context, st *ProductStatus) error {
	if st == nil {
		return c.refuse(ProductKey{}, fmt.Errorf("%w: no status", ErrLogProof))
	}
	recs := statusRecords(st)
	if len(recs) == 0 {
		return nil
	}
	if st.Proof == nil || st.Proof.Checkpoint == "" {
		return c.refuse(st.Key, fmt.Errorf("%w: the status carries no checkpoint", ErrLogProof))
	}
	cp, err := c.checkpoint(ctx, st.Proof.Checkpoint)
	if err != nil {
		return c.refuse(st.Key, err)
	}
	if c.trust.forks(cp) {
		return c.refuse(st.Key, fmt.Errorf("%w: two roots for a tree of %d", ErrLogFork, cp.Size))
	}
	if err := verifyRecords(st, recs, cp, nil); err != nil {
		return c.refuse(st.Key, err)
	}
	return nil
}
