package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// maxBody bounds what qcverify reads of a file, a badge or a page.
const maxBody = 8 << 20

// A badge found in a target: its name for the report, and its text.
type found struct {
	name string
	ld   *ldBadge // a JSON-LD badge, or nil
	raw  []byte   // a .json badge, when ld is nil
}

// A fetcher reads targets: files, and URLs over HTTP.
type fetcher struct {
	hc *http.Client
}

// badges reads a target — a badge file, a badge URL, a product page URL
// (or a saved page) — and returns the badges it holds.
func (f *fetcher) badges(ctx context.Context, target string) ([]found, error) {
	var (
		body  []byte
		base  *url.URL
		isURL = strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://")
		err   error
	)
	if isURL {
		base, err = url.Parse(target)
		if err != nil {
			return nil, badInput("not a URL: %v", err)
		}
		body, err = f.get(ctx, target)
	} else {
		body, err = readFile(target)
	}
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		b, err := oneBadge(trimmed)
		if err != nil {
			return nil, err
		}
		b.name = target
		return []found{b}, nil
	}
	return f.pageBadges(ctx, target, base, body)
}

// oneBadge reads a JSON document as a .json badge or a JSON-LD badge.
func oneBadge(doc []byte) (found, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(doc, &probe); err != nil {
		return found{}, badInput("not a badge: not JSON (%v)", err)
	}
	if _, ok := probe["@type"]; ok {
		var ld ldBadge
		if err := json.Unmarshal(doc, &ld); err != nil || !ld.isBadgeLD() {
			return found{}, badInput("not a badge: JSON-LD that is not a product's certification")
		}
		return found{ld: &ld}, nil
	}
	if _, ok := probe["verdict"]; !ok {
		return found{}, badInput("not a badge: a JSON object without a verdict")
	}
	return found{raw: doc}, nil
}

var (
	ldScript = regexp.MustCompile(`(?is)<script[^>]*\btype\s*=\s*["']?application/ld\+json["']?[^>]*>(.*?)</script>`)
	// A .json badge's link, as the widget's Handler serves it:
	// {prefix}badge/{gtin}.json, with or without a query.
	badgeLink = regexp.MustCompile(`(?i)(?:href|src|data-[a-z-]+)\s*=\s*["']([^"'<>]*/badge/[0-9]{8,14}\.json(?:\?[^"'<>]*)?)["']`)
)

// pageBadges finds the badges of a product page: every JSON-LD badge in
// it, and every .json badge it links to (fetched; relative links only
// for a page fetched by URL).
func (f *fetcher) pageBadges(ctx context.Context, name string, base *url.URL, page []byte) ([]found, error) {
	var out []found
	for i, m := range ldScript.FindAllSubmatch(page, -1) {
		var ld ldBadge
		if err := json.Unmarshal(bytes.TrimSpace(m[1]), &ld); err != nil || !ld.isBadgeLD() {
			continue // the page's other structured data
		}
		out = append(out, found{name: fmt.Sprintf("%s (JSON-LD %d)", name, i+1), ld: &ld})
	}
	seen := map[string]bool{}
	for _, m := range badgeLink.FindAllSubmatch(page, -1) {
		ref, err := url.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			continue
		}
		if base != nil {
			ref = base.ResolveReference(ref)
		}
		if !ref.IsAbs() || seen[ref.String()] {
			continue
		}
		seen[ref.String()] = true
		body, err := f.get(ctx, ref.String())
		if err != nil {
			return nil, err
		}
		b, err := oneBadge(bytes.TrimSpace(body))
		if err != nil {
			return nil, badInput("%s: %v", ref, err)
		}
		b.name = name + " → " + ref.String()
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, badInput("not a badge, nor a page with one")
	}
	return out, nil
}

func (f *fetcher) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, badInput("not a URL: %v", err)
	}
	req.Header.Set("User-Agent", "qcverify")
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, badInput("cannot read %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, badInput("cannot read %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, badInput("cannot read %s: %v", u, err)
	}
	if len(body) > maxBody {
		return nil, badInput("cannot read %s: larger than %d bytes", u, maxBody)
	}
	return body, nil
}

func readFile(name string) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, badInput("cannot read %v", err)
	}
	defer fh.Close()
	body, err := io.ReadAll(io.LimitReader(fh, maxBody+1))
	if err != nil {
		return nil, badInput("cannot read %s: %v", name, err)
	}
	if len(body) > maxBody {
		return nil, badInput("cannot read %s: larger than %d bytes", name, maxBody)
	}
	return body, nil
}
