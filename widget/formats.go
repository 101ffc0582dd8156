package widget

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// svgData is what the SVG template reads. The geometry and colours are
// this package's constants, prepared once per size, theme and state as
// trusted markup; only the words go through the template's escaping.
type svgData struct {
	badgeData
	Geometry                 template.HTMLAttr
	Frame, TitleAt, DetailAt template.HTML
	Inline                   string // the compact line's words after the title
}

type svgFrame struct {
	geometry                 template.HTMLAttr
	frame, titleAt, detailAt template.HTML
}

var svgFrames = func() (f [2][2][numStates]svgFrame) {
	for size, dim := range dimensions {
		iconX, iconY, titleX, titleY, titleSize, detailY := 12, 33, 32, 24, 13, 42
		if Size(size) == SizeCompact {
			iconX, iconY, titleX, titleY, titleSize = 9, 19, 28, 19, 12
		}
		for theme := range palettes {
			for st, p := range palettes[theme] {
				dash := ""
				if state(st) == stateUnknown {
					dash = ` stroke-dasharray="4 3"`
				}
				f[size][theme][st] = svgFrame{
					geometry: template.HTMLAttr(fmt.Sprintf(`width="%d" height="%d" viewBox="0 0 %d %d"`, dim.W, dim.H, dim.W, dim.H)),
					frame: template.HTML(fmt.Sprintf(`<rect x="0.5" y="0.5" width="%d" height="%d" rx="6" fill="%s" stroke="%s"%s/>`+
						`<g fill="%s" font-family="system-ui,-apple-system,PingFang SC,Microsoft YaHei,sans-serif">`+
						`<text x="%d" y="%d" font-size="14" font-weight="700">`, dim.W-1, dim.H-1, p.BG, p.Border, dash, p.FG, iconX, iconY)),
					titleAt:  template.HTML(fmt.Sprintf(`<text x="%d" y="%d" font-size="%d" font-weight="600">`, titleX, titleY, titleSize)),
					detailAt: template.HTML(fmt.Sprintf(`<text x="32" y="%d" font-size="12">`, detailY)),
				}
			}
		}
	}
	return f
}()

func (w *Widget) renderSVG(vd *verdict, look Look) string {
	b := w.data(vd, look)
	f := &svgFrames[look.Size][look.Theme][stateOf(*vd.d)]
	v := svgData{badgeData: b, Geometry: f.geometry, Frame: f.frame, TitleAt: f.titleAt, DetailAt: f.detailAt}
	if look.Size == SizeCompact {
		// One line: a stale answer's date follows its title, as in
		// the HTML badge.
		if b.Stale {
			v.Inline = b.Detail
		}
		v.Detail = ""
	}
	var sb strings.Builder
	if err := templates.ExecuteTemplate(&sb, "svg", v); err != nil {
		return ""
	}
	return sb.String()
}

type ldThing struct {
	Type string `json:"@type"`
	Name string `json:"name"`
}

type ldCertification struct {
	Type           string   `json:"@type"`
	Name           string   `json:"name"`
	Identification string   `json:"certificationIdentification,omitempty"`
	Status         string   `json:"certificationStatus"`
	IssuedBy       ldThing  `json:"issuedBy"`
	ValidFrom      string   `json:"validFrom,omitempty"`
	Expires        string   `json:"expires,omitempty"`
	URL            string   `json:"url,omitempty"`
	About          *ldThing `json:"about,omitempty"`
}

type ldProduct struct {
	Context       string          `json:"@context"`
	Type          string          `json:"@type"`
	Name          string          `json:"name,omitempty"`
	Brand         *ldThing        `json:"brand,omitempty"`
	Model         string          `json:"model,omitempty"`
	GTIN          string          `json:"gtin,omitempty"`
	Certification ldCertification `json:"hasCertification"`
	// Proof places the records the certification rests on in the
	// registry's log. Its name is a compact IRI whose prefix no context
	// defines, which JSON-LD 1.1 reads as an absolute IRI: a processor
	// keeps it when it expands the document (a bare name that schema.org
	// does not define would be read as schema.org's), it cannot clash
	// with a schema.org property, and a validator flags it at most as a
	// property it does not know. schema.org's additionalProperty would
	// show it to shoppers as a feature of the product.
	Proof *ldProof `json:"qcsdk:proof,omitempty"`
}

func (w *Widget) renderJSONLD(v *verdict, look Look) string {
	st, d := v.st, v.d
	c := d.Commitment
	switch d.Verdict {
	case client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn:
	default:
		// Not in force (or no answer): nothing certifies the product. The
		// rendering of these verdicts is shared between products, too.
		return ""
	}
	if st == nil || c == nil {
		return ""
	}
	en := look.Locale == LocaleEN
	text := func(t client.Text) string {
		if en {
			return t.In("en")
		}
		return t.ZH
	}
	p := ldProduct{Context: "https://schema.org", Type: "Product", GTIN: string(st.Key.GTIN)}
	if pr := st.Product; pr != nil {
		p.Name, p.Model = text(pr.Name), pr.Model
		if pr.GTIN != "" {
			p.GTIN = string(pr.GTIN)
		}
		if pr.Brand != "" {
			p.Brand = &ldThing{Type: "Brand", Name: pr.Brand}
		}
	}
	status := "https://schema.org/CertificationInactive"
	if d.Verdict == client.VerdictCommitted || d.Verdict == client.VerdictInspectionFailed {
		status = "https://schema.org/CertificationActive"
	}
	name, issuer := "产品质量承诺", "市场监管部门"
	if en {
		name, issuer = "Product quality commitment", "Market regulator"
	}
	p.Certification = ldCertification{
		Type: "Certification", Name: name, Identification: c.ID, Status: status,
		IssuedBy: ldThing{Type: "GovernmentOrganization", Name: issuer},
		URL:      w.VerifyLink(c.VerifyURL),
	}
	if !c.EffectiveAt.IsZero() {
		p.Certification.ValidFrom = c.EffectiveAt.UTC().Format(time.DateOnly)
	}
	if !c.ExpiresAt.IsZero() {
		p.Certification.Expires = c.ExpiresAt.UTC().Format(time.DateOnly)
	}
	if st.Enterprise != nil {
		p.Certification.About = &ldThing{Type: "Organization", Name: text(st.Enterprise.Name)}
	}
	p.Proof = jsonLDProof(st)
	// encoding/json escapes <, > and & (and U+2028, U+2029), so nothing
	// in the registry's text can close the script element or start one.
	j, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	return `<script type="application/ld+json">` + string(j) + `</script>`
}
