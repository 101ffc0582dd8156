package main

import (
	"bytes"
	"encoding/csv"
	"fmt"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// sampleListings is about how many listings the sample catalogue has.
const sampleListings = 400

// sampleCatalogue is a catalogue of sb's products, as a platform would
// export it: the curated demo products, which show every verdict (some
// named by GTIN, some by the maker's USCC, brand and model), a product
// whose maker is not listed, a few hundred generated products, some sold
// by more than one seller, and two malformed rows — a mistyped barcode
// and a row cut short — to show how they are reported.
func sampleCatalogue(sb *sandbox.Sandbox) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"listing_id", "seller", "title", "gtin", "uscc", "brand", "model"})
	n := 0
	add := func(title string, k client.ProductKey) {
		n++
		w.Write([]string{fmt.Sprintf("L-%05d", n), fmt.Sprintf("shop-%02d", n%37+1), title,
			string(k.GTIN), string(k.USCC), k.Brand, k.Model})
	}
	for i, d := range sb.Demo() {
		title := d.Brand + " " + d.Model
		if i%3 == 1 {
			add(title, client.ProductKey{USCC: d.USCC, Brand: d.Brand, Model: d.Model})
		} else {
			add(title, client.ProductKey{GTIN: d.GTIN})
		}
	}
	add("unbranded mug", client.ProductKey{GTIN: sb.NotListedGTIN()})

	// Generated products, past the curated enterprises the demo covers.
	var products []client.Product
	ents, _ := sb.Size()
	for j := 0; len(products) < sampleListings*3/4; j++ {
		added := false
		for e := 12; e < ents && len(products) < sampleListings*3/4; e++ {
			if p, ok := sb.Product(e, j); ok && p.GTIN != "" {
				products, added = append(products, p), true
			}
		}
		if !added {
			break
		}
	}
	for i := 0; n < sampleListings && len(products) > 0; i++ {
		if i == 57 {
			// A barcode with a wrong check digit.
			n++
			w.Write([]string{fmt.Sprintf("L-%05d", n), "shop-09", "ceramic teapot", "6901234567893", "", "", ""})
		}
		if i == 211 {
			// A row cut short by a bad export.
			n++
			w.Write([]string{fmt.Sprintf("L-%05d", n), "shop-14", "desk lamp"})
		}
		p := products[(i*7)%len(products)] // some products more than once
		title := p.Name.EN
		if title == "" {
			title = p.Name.ZH
		}
		add(title, client.ProductKey{GTIN: p.GTIN})
	}
	w.Flush()
	return buf.Bytes()
}
