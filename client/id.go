package client

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// GTIN is a GS1 Global Trade Item Number in its canonical 14-digit form:
// shorter GTIN-8, GTIN-12 (UPC-A) and GTIN-13 (EAN-13) numbers are padded
// with leading zeros, so that one product has exactly one spelling. A GTIN
// from [ParseGTIN], [CompleteGTIN] or [GTIN.UnmarshalText] (so any GTIN
// decoded from JSON, an API answer included) has a valid check digit.
// The zero GTIN means "no GTIN".
type GTIN string

// MarshalText returns the GTIN as it is; the zero GTIN is empty text.
func (g GTIN) MarshalText() ([]byte, error) { return []byte(g), nil }

// UnmarshalText validates text as [ParseGTIN] does and stores its
// canonical form; the error is ParseGTIN's [*IDError], and on error the
// GTIN is left as it was. Empty text is the zero GTIN, which is what
// MarshalText writes for it: an optional field without omitempty must
// read back what it wrote.
func (g *GTIN) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*g = ""
		return nil
	}
	v, err := ParseGTIN(string(text))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// USCC is a Unified Social Credit Code (GB 32100-2015), the 18-character
// identifier of a Chinese enterprise, in upper case. A USCC from [ParseUSCC]
// or [CompleteUSCC] or [USCC.UnmarshalText] (so any USCC decoded from JSON)
// has a valid check character. The zero USCC means "no USCC".
type USCC string

// MarshalText returns the code as it is; the zero USCC is empty text.
func (u USCC) MarshalText() ([]byte, error) { return []byte(u), nil }

// UnmarshalText validates text as [ParseUSCC] does and stores its
// canonical (upper-case) form; the error is ParseUSCC's [*IDError], and on
// error the USCC is left as it was. Empty text is the zero USCC, as for
// [GTIN.UnmarshalText].
func (u *USCC) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*u = ""
		return nil
	}
	v, err := ParseUSCC(string(text))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// ErrInvalidID is what every identifier error matches with [errors.Is]; use
// [errors.As] with an [*IDError] to learn what is wrong.
var ErrInvalidID = errors.New("qcsdk: invalid identifier")

// IDReason says what is wrong with an identifier.
type IDReason string

// Reasons an identifier is rejected, in the order they are checked. A
// character outside the set is reported before a wrong length so that, for
// example, full-width digits are named as such; input too long to be valid
// is only examined as far as a valid identifier could reach.
const (
	ReasonEmpty      IDReason = "empty"       // nothing but spaces
	ReasonCharacter  IDReason = "character"   // a character outside the identifier's set
	ReasonLength     IDReason = "length"      // a length no identifier of the kind has
	ReasonCheckDigit IDReason = "check_digit" // the check digit or character does not match
)

// maxErrInput bounds IDError.Input so that hostile input cannot blow up
// logs and error pages.
const maxErrInput = 32

// IDError is the error for a malformed GTIN or USCC. It matches
// [ErrInvalidID].
type IDError struct {
	Kind   string   // "gtin" or "uscc"
	Input  string   // the input as given, cut to at most 32 bytes
	Reason IDReason // what is wrong
	// Pos is the byte index in the input of the first character that is not
	// allowed when Reason is ReasonCharacter, and -1 otherwise. It may lie
	// beyond Input when the input was cut.
	Pos int

	length  int  // length in bytes of the input without surrounding spaces
	payload bool // the input was a payload for Complete*, without its check digit
}

func (e *IDError) Error() string {
	kind := e.Kind
	if e.payload {
		kind += " payload"
	}
	prefix := fmt.Sprintf("qcsdk: invalid %s %q: ", kind, e.Input)
	switch e.Reason {
	case ReasonEmpty:
		return prefix + "empty"
	case ReasonLength:
		n := e.length
		if n == 0 {
			// An IDError built by hand: the best we know is the input.
			n = len(trimSpaces(e.Input))
		}
		return prefix + fmt.Sprintf("length %d, want %s", n, e.wantLength())
	case ReasonCharacter:
		return prefix + e.characterReason()
	case ReasonCheckDigit:
		return prefix + e.checkReason()
	}
	return prefix + string(e.Reason)
}

// Is makes every IDError match ErrInvalidID, and ErrInvalidInput like every
// other input the client refuses before sending.
func (e *IDError) Is(target error) bool { return target == ErrInvalidID || target == ErrInvalidInput }

func (e *IDError) wantLength() string {
	switch {
	case e.Kind == "gtin" && e.payload:
		return "7, 11, 12 or 13 digits"
	case e.Kind == "gtin":
		return "8, 12, 13 or 14 digits"
	case e.Kind == "uscc" && e.payload:
		return "17 characters"
	case e.Kind == "uscc":
		return "18 characters"
	}
	return "another length"
}

func (e *IDError) characterReason() string {
	if e.Pos < 0 || e.Pos >= len(e.Input) {
		return fmt.Sprintf("character at position %d is not allowed", e.Pos)
	}
	r, size := utf8.DecodeRuneInString(e.Input[e.Pos:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte %#02x at position %d is not allowed", e.Input[e.Pos], e.Pos)
	}
	return fmt.Sprintf("character %q at position %d is not allowed", r, e.Pos)
}

// checkReason names the check digit the input has and the one it should
// have. Both are recomputed from Input, which is never cut when the length
// is right.
func (e *IDError) checkReason() string {
	t := trimSpaces(e.Input)
	switch e.Kind {
	case "gtin":
		if validGTINLength(len(t)) && scanDigits(t) < 0 {
			return fmt.Sprintf("check digit is %c, want %c", t[len(t)-1], gtinCheck(t[:len(t)-1]))
		}
		return "wrong check digit"
	case "uscc":
		if len(t) == usccLen && scanUSCC(t) < 0 {
			return fmt.Sprintf("check character is %q, want %q", rune(upper(t[usccLen-1])), rune(usccCheck(t[:usccLen-1])))
		}
		return "wrong check character"
	}
	return "wrong check character"
}

// answerIDError is a GTIN or USCC in the registry's answer that does not
// validate. That is the registry's fault, so unlike the *IDError it
// replaces it matches no sentinel: not the caller's ErrInvalidInput.
type answerIDError struct {
	kind   string
	reason IDReason
	msg    string
}

func (e *answerIDError) Error() string { return e.msg }

// fromAnswer turns the *IDError of decoding an answer into an
// answerIDError, and leaves any other error as it is.
func fromAnswer(err error) error {
	var id *IDError
	if !errors.As(err, &id) {
		return err
	}
	return &answerIDError{kind: id.Kind, reason: id.Reason, msg: "the answer holds " + strings.TrimPrefix(id.Error(), "qcsdk: ")}
}

func newIDError(kind, s string, reason IDReason, pos, length int, payload bool) *IDError {
	return &IDError{Kind: kind, Input: cut(s), Reason: reason, Pos: pos, length: length, payload: payload}
}

// cut shortens s to at most maxErrInput bytes, backing off to the start of
// a UTF-8 sequence so that a cut does not split a character.
func cut(s string) string {
	if len(s) <= maxErrInput {
		return s
	}
	n := maxErrInput
	for i := 0; i < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return s[:n]
}

// trimSpaces drops surrounding ASCII spaces only: any other white space is
// as wrong in an identifier as any other stray character.
func trimSpaces(s string) string {
	t, _ := trimSpacesOff(s)
	return t
}

// trimSpacesOff is trimSpaces that also returns the offset of the result in
// s, so that positions can be reported against the input as given.
func trimSpacesOff(s string) (string, int) {
	i, j := 0, len(s)
	for i < j && s[i] == ' ' {
		i++
	}
	for j > i && s[j-1] == ' ' {
		j--
	}
	return s[i:j], i
}

// gtinLen is the length of the canonical form, check digit included.
const gtinLen = 14

func validGTINLength(n int) bool {
	return n == 8 || n == 12 || n == 13 || n == 14
}

// scanDigits returns the index of the first byte of s that is not an ASCII
// digit, or -1. Unicode digits such as '１' are rejected: the GS1 check
// digit is defined over ASCII only, and a lookalike must not reach a URL or
// a cache key.
func scanDigits(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return i
		}
	}
	return -1
}

// gtinCheck returns the GS1 mod-10 check digit for payload, which holds
// ASCII digits only. Counting from the right, digits are weighted 3, 1, 3,
// …, so leading zeros do not change the result and every GTIN length uses
// one rule.
func gtinCheck(payload string) byte {
	sum := 0
	w := 3
	for i := len(payload) - 1; i >= 0; i-- {
		sum += int(payload[i]-'0') * w
		w = 4 - w
	}
	return byte('0' + (10-sum%10)%10)
}

// canonicalGTIN reports whether s, of gtinLen bytes, is a GTIN in its
// canonical form: the form every lookup of a product page passes, which
// is checked here in one pass of independent sums rather than by scanning
// and weighting digit after digit.
func canonicalGTIN(s string) bool {
	_ = s[gtinLen-1]
	var threes, ones uint
	for i := 0; i < gtinLen-2; i += 2 {
		a, b := uint(s[i])-'0', uint(s[i+1])-'0'
		if a > 9 || b > 9 {
			return false
		}
		threes += a
		ones += b
	}
	last, check := uint(s[gtinLen-2])-'0', uint(s[gtinLen-1])-'0'
	if last > 9 || check > 9 {
		return false
	}
	return (3*(threes+last)+ones+check)%10 == 0
}

// ParseGTIN validates a GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN-13) or
// GTIN-14 given as ASCII digits, with surrounding ASCII spaces ignored, and
// returns it in its canonical 14-digit form. The error is an [*IDError].
//
// Input already in canonical form is returned as is, without allocating.
func ParseGTIN(s string) (GTIN, error) {
	if len(s) == gtinLen && canonicalGTIN(s) {
		return GTIN(s), nil
	}
	t, off := trimSpacesOff(s)
	if t == "" {
		return "", newIDError("gtin", s, ReasonEmpty, -1, 0, false)
	}
	if i := scanDigits(t[:min(len(t), gtinLen)]); i >= 0 {
		return "", newIDError("gtin", s, ReasonCharacter, off+i, len(t), false)
	}
	if !validGTINLength(len(t)) {
		return "", newIDError("gtin", s, ReasonLength, -1, len(t), false)
	}
	if gtinCheck(t[:len(t)-1]) != t[len(t)-1] {
		return "", newIDError("gtin", s, ReasonCheckDigit, -1, len(t), false)
	}
	if len(t) == gtinLen {
		return GTIN(t), nil
	}
	return GTIN("000000"[:gtinLen-len(t)] + t), nil
}

// CompleteGTIN appends the check digit to a GTIN without one: 7, 11, 12 or
// 13 ASCII digits, surrounding ASCII spaces ignored. It returns the
// canonical 14-digit GTIN; the error is an [*IDError]. It is meant for
// building test data, where the check digit is the part nobody wants to
// compute by hand.
func CompleteGTIN(payload string) (GTIN, error) {
	t, off := trimSpacesOff(payload)
	if t == "" {
		return "", newIDError("gtin", payload, ReasonEmpty, -1, 0, true)
	}
	if i := scanDigits(t[:min(len(t), gtinLen-1)]); i >= 0 {
		return "", newIDError("gtin", payload, ReasonCharacter, off+i, len(t), true)
	}
	if !validGTINLength(len(t) + 1) {
		return "", newIDError("gtin", payload, ReasonLength, -1, len(t), true)
	}
	var b [gtinLen]byte
	pad := gtinLen - 1 - len(t)
	for i := range pad {
		b[i] = '0'
	}
	copy(b[pad:], t)
	b[gtinLen-1] = gtinCheck(t)
	return GTIN(b[:]), nil
}

// usccChars is the GB 32100-2015 character set in value order: the digits
// and the capital letters other than I, O, Z, S and V, which are too easily
// read as digits.
const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

const usccLen = 18

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// usccLetterValues holds the value of each letter A to Z in usccChars, or
// 0xff for a letter outside the set: a table rather than a search, because
// ParseUSCC runs once per lookup by maker.
const usccLetterValues = "\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\xff\x12\x13\x14\x15\x16\xff\x17\x18\x19\xff\x1a\x1b\xff\x1c\x1d\x1e\xff"

// usccValue returns the value of c in the GB 32100 set, either case, or -1.
func usccValue(c byte) int {
	c = upper(c)
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'Z':
		if v := usccLetterValues[c-'A']; v != 0xff {
			return int(v)
		}
	}
	return -1
}

// scanUSCC returns the index of the first byte of s outside the GB 32100
// set (either case), or -1.
func scanUSCC(s string) int {
	for i := 0; i < len(s); i++ {
		if usccValue(s[i]) < 0 {
			return i
		}
	}
	return -1
}

// usccCheck returns the check character for the first 17 characters of a
// code, which must all be in the set. The weight of position i is 3^i mod
// 31, and the check value is 31 minus the weighted sum mod 31, where 31
// stands for 0.
func usccCheck(first17 string) byte {
	sum, w := 0, 1
	for i := 0; i < len(first17); i++ {
		sum += usccValue(first17[i]) * w
		w = w * 3 % 31
	}
	return usccChars[(31-sum%31)%31]
}

// ParseUSCC validates a Unified Social Credit Code: 18 characters from the
// GB 32100-2015 set, the last a check character. Lower-case letters are
// accepted and upper-cased; surrounding ASCII spaces are ignored. The error
// is an [*IDError].
//
// Input already in canonical form is returned as is, without allocating.
func ParseUSCC(s string) (USCC, error) {
	t, off := trimSpacesOff(s)
	if t == "" {
		return "", newIDError("uscc", s, ReasonEmpty, -1, 0, false)
	}
	if i := scanUSCC(t[:min(len(t), usccLen)]); i >= 0 {
		return "", newIDError("uscc", s, ReasonCharacter, off+i, len(t), false)
	}
	if len(t) != usccLen {
		return "", newIDError("uscc", s, ReasonLength, -1, len(t), false)
	}
	if usccCheck(t[:usccLen-1]) != upper(t[usccLen-1]) {
		return "", newIDError("uscc", s, ReasonCheckDigit, -1, len(t), false)
	}
	for i := 0; i < len(t); i++ {
		if t[i] >= 'a' {
			return USCC(upperUSCC(t)), nil
		}
	}
	return USCC(t), nil
}

func upperUSCC(t string) string {
	var b [usccLen]byte
	for i := range b {
		b[i] = upper(t[i])
	}
	return string(b[:])
}

// CompleteUSCC appends the check character to the first 17 characters of a
// Unified Social Credit Code and returns the code in upper case; the error
// is an [*IDError]. It is meant for building test data.
func CompleteUSCC(first17 string) (USCC, error) {
	t, off := trimSpacesOff(first17)
	if t == "" {
		return "", newIDError("uscc", first17, ReasonEmpty, -1, 0, true)
	}
	if i := scanUSCC(t[:min(len(t), usccLen-1)]); i >= 0 {
		return "", newIDError("uscc", first17, ReasonCharacter, off+i, len(t), true)
	}
	if len(t) != usccLen-1 {
		return "", newIDError("uscc", first17, ReasonLength, -1, len(t), true)
	}
	var b [usccLen]byte
	for i := range usccLen - 1 {
		b[i] = upper(t[i])
	}
	b[usccLen-1] = usccCheck(t)
	return USCC(b[:]), nil
}
