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
	zone                              string // after a time: the zone it is in
	// A compact badge of a stale answer has room for a shorter title and
	// the day it was last confirmed, and says both: a state's short word,
	// then asOf (unknown: unknownSince) and the day.
	short                  [numStates]string
	asOf, unknownSince     string
	dateLayout, timeLayout string
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
		confirmed:             "最后核实 ",
		zone:                  " 北京时间",
		short: [numStates]string{
			stateCommitted: "质量承诺", stateFailed: "抽检不合格",
			stateSuspended: "承诺已暂停", stateRevoked: "承诺已撤销", stateExpired: "承诺已过期",
			stateNotListed: "暂无承诺", stateUnknown: "暂无法核实",
		},
		asOf:         "最后核实 ",
		unknownSince: "最后核实 ",
		dateLayout:   "2006-01-02",
		timeLayout:   "01-02 15:04",
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
		zone:                  " UTC+8",
		short: [numStates]string{
			stateCommitted: "Committed", stateFailed: "Failed",
			stateSuspended: "Suspended", stateRevoked: "Revoked", stateExpired: "Expired",
			stateNotListed: "No commitment", stateUnknown: "Unverified",
		},
		asOf:         "as of ",
		unknownSince: "since ",
		dateLayout:   "2006-01-02",
		timeLayout:   "01-02 15:04",
	},
}

// Icons tell the states apart without colour or words, one glyph each,
// all in the common fallback fonts (DejaVu Sans). A stale answer's badge
// shows the clock instead of its state's glyph: a tick is for an answer
// the registry has just confirmed.
var icons = [numStates]string{
	stateCommitted: "✓",
	stateFailed:    "!",
	stateSuspended: "‖",
	stateRevoked:   "✕",
	stateExpired:   "⊘",
	stateNotListed: "–",
	stateUnknown:   "?",
}

const staleIcon = "◷"

// label is what a badge says: a title, a detail line, and the icon that
// tells the state apart without colour. Name, when set, is what the
// accessible name says in place of the detail: it starts with the detail,
// and says more than fits.
type label struct {
	Title, Detail, Icon string
	Name                string
}

func (w *words) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	// Dates are the registry's calendar days, in China's time zone.
	return t.In(chinaTime).Format(w.dateLayout)
}

var chinaTime = time.FixedZone("CST", 8*60*60)

// label is what a badge says of a decision at a size. asOf, when not
// zero, is when the registry last confirmed an answer now past its
// freshness (the registry cannot be reached, or is being asked again), or,
// for the unknown verdict, an answer too old to show: the badge says so in
// its words and its icon, at every size, so that nobody reads an old
// answer as today's.
func (w *words) label(d client.Decision, asOf time.Time, size Size) label {
	s := stateOf(d)
	l := w.verdictLabel(d, s)
	if asOf.IsZero() {
		return l
	}
	at := asOf.In(chinaTime)
	full := at.Format(w.timeLayout) + w.zone
	if s != stateUnknown {
		l.Icon = staleIcon
	}
	if size == SizeCompact {
		lead := w.asOf
		if s == stateUnknown {
			lead = w.unknownSince
		}
		l.Title = w.short[s]
		l.Detail = lead + at.Format("01-02")
		l.Name = lead + full
		return l
	}
	l.Detail = w.confirmed + full
	return l
}

func (w *words) verdictLabel(d client.Decision, s state) label {
	icon := icons[s]
	switch s {
	case stateCommitted:
		if d.Since.IsZero() {
			return label{Title: w.committed, Detail: w.committedNoInspection, Icon: icon}
		}
		return label{Title: w.committed, Detail: w.passedOn + w.date(d.Since), Icon: icon}
	case stateFailed:
		return label{Title: w.failed, Detail: w.failedOn + w.date(d.Since), Icon: icon}
	case stateSuspended, stateRevoked, stateExpired:
		t := [...]string{stateSuspended: w.suspended, stateRevoked: w.revoked, stateExpired: w.expired}[s]
		detail := ""
		if !d.Since.IsZero() {
			detail = w.withdrawnOn + w.date(d.Since)
		}
		return label{Title: t, Detail: detail, Icon: icon}
	case stateNotListed:
		return label{Title: w.notListed, Icon: icon}
	}
	return label{Title: w.unknown, Detail: w.checkOfficial, Icon: icon}
}
