package widget

import (
	"context"
	"html/template"
	"io"

	"github.com/qualitycommit/qcsdk/client"
)

// The renderings below are the Page's and the Handler's, reached one
// product at a time, so that the package's tables can check each format
// and its error without a page or a server around every case. They exist
// only in the package's tests.

func (w *Widget) Render(ctx context.Context, gtin string, look Look) (template.HTML, error) {
	var v verdict
	err := w.status(ctx, gtin, &v)
	return template.HTML(w.prepared(kindHTML, &v, look, w.renderHTML)), err
}

func (w *Widget) WriteBadge(ctx context.Context, out io.Writer, gtin string, look Look) error {
	var v verdict
	w.status(ctx, gtin, &v)
	_, err := io.WriteString(out, w.prepared(kindHTML, &v, look, w.renderHTML))
	return err
}

func (w *Widget) SVG(ctx context.Context, gtin string, look Look) string {
	var v verdict
	w.status(ctx, gtin, &v)
	return w.prepared(kindSVG, &v, look, w.renderSVG)
}

func (w *Widget) JSONLD(ctx context.Context, gtin string, look ...Look) template.HTML {
	var v verdict
	w.status(ctx, gtin, &v)
	return template.HTML(w.prepared(kindJSONLD, &v, w.lookOf(look), w.renderJSONLD))
}

func (w *Widget) Status(ctx context.Context, gtin string) (*client.ProductStatus, client.Decision, error) {
	var v verdict
	err := w.status(ctx, gtin, &v)
	return v.st, *v.d, err
}

func Stylesheet() string { return stylesheet }
