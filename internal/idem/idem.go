package idem

// ValidKey reports whether k is an Idempotency-Key the API takes: 1 to
// 255 visible ASCII characters (0x21 to 0x7e), so no spaces, no
// control characters and nothing that is not ASCII. A key travels in a
// header field, where anything else would be folded, trimmed or
// re-encoded on the way, and two keys that look alike must be the same.
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
