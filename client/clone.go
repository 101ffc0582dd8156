package client

import "slices"

// Clone returns a deep copy of st; nil for nil. Records the cache hands
// out are shared by every page view that asks for them (copying one per
// view would cost more than the lookup); copy a status with Clone before
// changing it, or anything it points to.
func (st *ProductStatus) Clone() *ProductStatus {
	if st == nil {
		return nil
	}
	cp := *st
	if st.Product != nil {
		p := *st.Product
		cp.Product = &p
	}
	cp.Enterprise = st.Enterprise.clone()
	cp.Commitment = st.Commitment.clone()
	if st.Inspections != nil {
		cp.Inspections = make([]Inspection, len(st.Inspections))
		for i := range st.Inspections {
			cp.Inspections[i] = *st.Inspections[i].clone()
		}
	}
	return &cp
}

// clone returns a deep copy of e; nil for nil.
func (e *Enterprise) clone() *Enterprise {
	if e == nil {
		return nil
	}
	cp := *e
	cp.Categories = slices.Clone(e.Categories)
	return &cp
}

// clone returns a deep copy of c; nil for nil.
func (c *Commitment) clone() *Commitment {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Scope.Brands = slices.Clone(c.Scope.Brands)
	cp.Scope.Models = slices.Clone(c.Scope.Models)
	cp.Scope.GTINPrefixes = slices.Clone(c.Scope.GTINPrefixes)
	cp.Items = slices.Clone(c.Items)
	if c.StatusReason != nil {
		r := *c.StatusReason
		cp.StatusReason = &r
	}
	return &cp
}

// clone returns a deep copy of in; nil for nil.
func (in *Inspection) clone() *Inspection {
	if in == nil {
		return nil
	}
	cp := *in
	cp.FailedItems = slices.Clone(in.FailedItems)
	if r := in.Rectification; r != nil {
		rc := *r
		if r.CompletedAt != nil {
			t := *r.CompletedAt
			rc.CompletedAt = &t
		}
		if r.Note != nil {
			n := *r.Note
			rc.Note = &n
		}
		cp.Rectification = &rc
	}
	return &cp
}
