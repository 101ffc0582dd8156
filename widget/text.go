package widget

import (
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/locale"
)

// Locale is the language a badge speaks: LocaleZH (the default) or
// LocaleEN.
type Locale uint8

const (
	LocaleZH = Locale(locale.ZH) // zh-CN
	LocaleEN = Locale(locale.EN) // en
)

// String is the locale's BCP 47 tag.
func (l Locale) String() string { return locale.Tag(l).String() }

// ParseLocale reads a BCP 47 tag the way every package of the SDK does
// (client.Text.In too): any English tag ("en-AU") is LocaleEN; Chinese in
// any script or region, and any language the registry does not publish, is
// LocaleZH. A string that is not a tag at all is LocaleZH and an error.
func ParseLocale(tag string) (Locale, error) {
	l, err := locale.Parse(tag)
	return Locale(l), err
}

// LocaleFromAcceptLanguage picks the locale a browser prefers from an
// Accept-Language header, by its weights; zh-CN when it names neither
// language, or cannot be read.
func LocaleFromAcceptLanguage(header string) Locale {
	return Locale(locale.FromAcceptLanguage(header))
}

// words are a badge's texts in one locale.
type words struct {
	committed, committedNoInspection  string
	passedOn                          string // + date
	failed, failedOn                  string
	suspended, revoked, expired       string
	withdrawnOn                       string
	notListed, unknown, checkOfficial string
	verify                            string // the link's purpose, for the accessible name
	confirmed                         string // + date and time: a stale answer's last confirmation
	dateLayout, timeLayout            string
}

var vocab = [...]words{
	LocaleZH: {
		committed:             "质量承诺",
		committedNoInspection: "承诺有效，尚无抽检",
		passedOn:              "最近抽检合格 ",
		failed:                "抽检不合格",
		failedOn:              "公布于 ",
		suspended:             "质量承诺已暂停",
		revoked:               "质量承诺已撤销",
		expired:               "质量承诺已过期",
		withdrawnOn:           "自 ",
		notListed:             "暂无有效质量承诺",
		unknown:               "暂无法核实",
		checkOfficial:         "请到官方平台查询",
		verify:                "到官方平台核验",
		confirmed:             "最后核实于 ",
		dateLayout:            "2006-01-02",
		timeLayout:            "2006-01-02 15:04",
	},
	LocaleEN: {
		committed:             "Quality commitment",
		committedNoInspection: "In force, not yet inspected",
		passedOn:              "Passed inspection ",
		failed:                "Failed inspection",
		failedOn:              "Published ",
		suspended:             "Commitment suspended",
		revoked:               "Commitment revoked",
		expired:               "Commitment expired",
		withdrawnOn:           "Since ",
		notListed:             "No commitment in force",
		unknown:               "Not verified right now",
		checkOfficial:         "Check on the official platform",
		verify:                "verify on the official platform",
		confirmed:             "Last confirmed ",
		dateLayout:            "2006-01-02",
		timeLayout:            "2006-01-02 15:04",
	},
}

// label is what a badge says: a title, a detail line, and the icon that
// tells the state apart without colour.
type label struct {
	Title, Detail, Icon string
}

func (w *words) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	// Dates are the registry's calendar days, in China's time zone.
	return t.In(chinaTime).Format(w.dateLayout)
}

var chinaTime = time.FixedZone("CST", 8*60*60)

// label is what a badge says of a decision. asOf, when not zero, is when
// the registry last confirmed an answer now past its freshness (the
// registry cannot be reached, or is being asked again): the detail line
// says so instead, so that nobody reads an old answer as today's.
func (w *words) label(d client.Decision, asOf time.Time) label {
	l := w.verdictLabel(d)
	switch d.Verdict {
	case client.VerdictCommitted, client.VerdictInspectionFailed, client.VerdictWithdrawn:
	default:
		return l
	}
	if !asOf.IsZero() {
		l.Detail = w.confirmed + asOf.In(chinaTime).Format(w.timeLayout)
	}
	return l
}

func (w *words) verdictLabel(d client.Decision) label {
	switch d.Verdict {
	case client.VerdictCommitted:
		if d.Since.IsZero() {
			return label{w.committed, w.committedNoInspection, "✓"}
		}
		return label{w.committed, w.passedOn + w.date(d.Since), "✓"}
	case client.VerdictInspectionFailed:
		return label{w.failed, w.failedOn + w.date(d.Since), "!"}
	case client.VerdictWithdrawn:
		t := w.expired
		switch d.Status {
		case client.CommitmentSuspended:
			t = w.suspended
		case client.CommitmentRevoked:
			t = w.revoked
		}
		detail := ""
		if !d.Since.IsZero() {
			detail = w.withdrawnOn + w.date(d.Since)
		}
		return label{t, detail, "–"}
	case client.VerdictNotListed:
		return label{w.notListed, "", "–"}
	}
	return label{w.unknown, w.checkOfficial, "?"}
}
