package widget_test

import (
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// A public endpoint that answers a listing's badges at once, for a page
// whose script fetches them: each cold product is a lookup under the
// same limits as the badge endpoint's, so that a flood of random
// barcodes costs the registry's quota no more than it would one badge at
// a time.
func ExampleWidget_PublicPage() {
	var qc *cache.Cache // the platform's cache
	badges, err := widget.New(qc, widget.WithBadgeLookupLimitPerAddress(5, 60))
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("GET /quality/listing-badges", func(rw http.ResponseWriter, r *http.Request) {
		gtins := r.URL.Query()["gtin"]
		if len(gtins) > 100 {
			http.Error(rw, "at most 100 products", http.StatusBadRequest)
			return
		}
		// Each barcode is parsed at the edge: a malformed one is the
		// shopper's mistake, answered at once, and never a lookup.
		parsed := make([]client.GTIN, len(gtins))
		for i, g := range gtins {
			var err error
			if parsed[i], err = client.ParseGTIN(g); err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
		}
		page := badges.PublicPage(r, parsed...)
		defer page.Close()
		// A refusal is this address's, or this moment's: no shared cache
		// may keep it.
		rw.Header().Set("Cache-Control", "no-store")
		var out strings.Builder
		for _, g := range gtins {
			b, _ := page.Badge(g)
			out.WriteString(string(b))
		}
		fmt.Fprint(rw, out.String())
	})
}
