// Package client is the foundation of the qcsdk SDK, which lets an
// e-commerce platform show on a product page whether the product's maker
// has signed a product quality commitment with the market regulator, and
// how the maker fared in the regulator's law-enforcement inspections.
//
// The package holds three things every other part of the SDK builds on:
//
//   - the typed models of the records the registry's public query API
//     (api/openapi.yaml) answers with: [Enterprise], [Commitment],
//     [Inspection], [ProductStatus], [Event] and the rest;
//   - validation of the identifiers a platform names products and makers
//     by ([ParseGTIN], [ParseUSCC]);
//   - the badge verdict ([Decide]), the one place where the registry's
//     facts become what a badge says;
//   - the signature scheme of webhook pushes ([SignWebhook]).
//
// The HTTP client for the API's endpoints is not part of the package yet.
//
// # Identifiers
//
// A product is named by its GTIN, or by its maker's Unified Social Credit
// Code with brand and model. Both carry a check character, and both are
// validated before they go anywhere near a request, a cache key or a page:
//
//	gtin, err := client.ParseGTIN(r.FormValue("gtin"))
//	if errors.Is(err, client.ErrInvalidID) {
//		// a typo, not an outage: say so, and do not ask the registry
//	}
//
// [ParseGTIN] accepts the 8-, 12-, 13- and 14-digit forms and returns the
// 14-digit one, so that a product has one spelling in caches and URLs; a
// GTIN already in that form costs no allocation. [ParseUSCC] accepts either
// case and returns upper case. Only ASCII is accepted (full-width digits
// and other lookalikes are rejected), and only surrounding ASCII spaces
// are forgiven.
//
// A rejection is an [*IDError] matching [ErrInvalidID]. It says which rule
// was broken and where, and keeps at most 32 bytes of the input, which it
// quotes, so that hostile input can neither flood a log nor forge lines in
// it.
//
// [CompleteGTIN] and [CompleteUSCC] compute the check character, for
// building test data.
//
// # Verdict
//
// [Decide] turns a [ProductStatus] into a [Decision]: a [Verdict]
// (committed, inspection_failed, withdrawn, not_listed or unknown) with the
// commitment status, date and records behind it. Everything that shows a
// badge takes its verdict from Decide, so that a product reads the same
// everywhere.
//
// The rules are conservative: a verdict is never better than the data
// supports. A commitment past its expiry date is withdrawn even while the
// registry still says active; a failed inspection outranks every older
// pass; a status or result this version of the SDK does not know gives
// unknown, never a guess; and no answer at all is unknown, never
// not_listed. Only inspections published within a look-back window
// ([DefaultLookback], a year, unless the caller says otherwise) count, so
// that a long-rectified failure stops marking a product.
//
// Decide takes the current time as an argument, so that cached answers
// are judged as of now rather than as of when they were fetched, and tests
// need no clock. It does not allocate, and is cheap enough to run on every
// page view.
//
// # Webhooks
//
// The registry pushes each change event to a platform as a signed POST
// (see [SignatureHeader]). [SignWebhook] computes the header for a body and
// a set of secrets; the registry signs with it, and tests use it to build
// pushes a receiver must accept. Verifying pushes arrives with the HTTP
// client.
package client
