package sandbox

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// The data set is a pure function of (seed, sizes, reference day): every
// enterprise draws from its own random stream, so enterprise 7 looks the same
// whether the set holds 50 enterprises or 50,000. Products are not stored at
// all: product j of enterprise e is computed from (e, j) when asked for, and
// its GTIN encodes (e, j), which is how a 1,000,000-product set is ready in
// well under a second.

const day = 24 * time.Hour

// GTIN layout of a sandbox product: GS1 prefix 69 (China), a 5-digit company
// number 10000+e, a 5-digit item number 10000+j, and the check digit.
const (
	companyBase = 10000
	maxCompany  = 89999 // so that 10000+e keeps 5 digits
	itemBase    = 10000
	maxItems    = 89999
)

type brand struct {
	name string
	code string
}

// enterpriseData is everything the registry keeps per enterprise. The
// records it points to are never modified once published: a change stores a
// new copy, so readers may hold them without a lock.
type enterpriseData struct {
	ent         *client.Enterprise
	brands      []brand
	cats        []int // indexes into categories
	products    int
	commitments []*client.Commitment
	delisted    bool
	hostile     bool // product names carry hostile text too
}

// DemoProduct is one product of the curated demo set, with the verdict a
// badge shows for it on the sandbox's reference day.
type DemoProduct struct {
	GTIN    client.GTIN    `json:"gtin"`
	USCC    client.USCC    `json:"uscc"`
	Brand   string         `json:"brand"`
	Model   string         `json:"model"`
	Verdict client.Verdict `json:"verdict"`
	About   string         `json:"about"`
}

type curatedInspection struct {
	daysAgo int
	result  client.InspectionResult
}

// curated describes the first enterprises of every data set, chosen so the
// demo shows each badge verdict.
type curated struct {
	name        tradeName
	region      int
	category    int
	status      client.CommitmentStatus
	changedAgo  int  // days since the status changed, for withdrawn ones
	lapsed      bool // still "active" but past its expiry date
	futureDays  int  // effective only this many days from now
	inspections []curatedInspection
	verdict     client.Verdict
	about       string
}

var curatedSet = []curated{
	{name: tradeName{"清源", "Qingyuan", "QY"}, region: 0, category: 0, status: client.CommitmentActive,
		inspections: []curatedInspection{{40, client.InspectionPass}},
		verdict:     client.VerdictCommitted, about: "active commitment, last inspection passed"},
	{name: tradeName{"洁诺", "Jienuo", "JN"}, region: 3, category: 1, status: client.CommitmentActive,
		verdict: client.VerdictCommitted, about: "active commitment, not inspected yet"},
	{name: tradeName{"童悦", "Tongyue", "TY"}, region: 2, category: 2, status: client.CommitmentActive,
		inspections: []curatedInspection{{300, client.InspectionPass}, {20, client.InspectionFail}},
		verdict:     client.VerdictInspectionFailed, about: "active commitment, latest inspection failed"},
	{name: tradeName{"贝恩", "Bei'en", "BE"}, region: 6, category: 3, status: client.CommitmentSuspended, changedAgo: 10,
		verdict: client.VerdictWithdrawn, about: "commitment suspended"},
	{name: tradeName{"恒泰", "Hengtai", "HT"}, region: 4, category: 0, status: client.CommitmentRevoked, changedAgo: 30,
		inspections: []curatedInspection{{45, client.InspectionFail}},
		verdict:     client.VerdictWithdrawn, about: "commitment revoked"},
	{name: tradeName{"澜泉", "Lanquan", "LQ"}, region: 10, category: 1, status: client.CommitmentExpired, changedAgo: 15,
		verdict: client.VerdictWithdrawn, about: "commitment expired"},
	{name: tradeName{"博雅", "Boya", "BY"}, region: 13, category: 5, status: client.CommitmentActive, lapsed: true,
		verdict: client.VerdictWithdrawn, about: "commitment past its expiry date, status not yet updated"},
	{name: tradeName{"立诚", "Licheng", "LC"}, region: 11, category: 4, status: client.CommitmentActive, futureDays: 20,
		verdict: client.VerdictNotListed, about: "commitment signed, not in force yet"},
	{name: tradeName{"春晖", "Chunhui", "CH"}, region: 8, category: 2, status: client.CommitmentActive,
		inspections: []curatedInspection{{60, client.InspectionFail}, {12, client.InspectionPass}},
		verdict:     client.VerdictCommitted, about: "failed once, passed after rectification"},
	{name: tradeName{"宏远", "Hongyuan", "HY"}, region: 12, category: 3, status: client.CommitmentActive,
		inspections: []curatedInspection{{500, client.InspectionFail}, {90, client.InspectionPass}},
		verdict:     client.VerdictCommitted, about: "an old failure outside the look-back window"},
	{name: tradeName{"沐阳", "Muyang", "MY"}, region: 5, category: 3, status: client.CommitmentActive,
		inspections: []curatedInspection{{100, client.InspectionFail}, {5, client.InspectionPending}},
		verdict:     client.VerdictInspectionFailed, about: "failed, re-inspection pending"},
}

type dataConfig struct {
	seed        uint64
	enterprises int
	products    int
	ref         time.Time // the reference day the data is dated from
	verifyBase  string
	hostile     bool
}

// data is the generated registry before the server serves it.
type data struct {
	ents        []*enterpriseData
	inspections []*client.Inspection
	cases       []*client.Case
	cats        []*client.Category
	demo        []DemoProduct
	seq         int64 // the last version handed out
}

type generator struct {
	cfg  dataConfig
	d    *data
	seq  int64
	insp int
}

func (g *generator) version() int64 {
	g.seq++
	return g.seq
}

func generate(cfg dataConfig) *data {
	g := &generator{cfg: cfg, d: &data{}}
	for i, c := range categories {
		g.d.cats = append(g.d.cats, &client.Category{
			Code: c.code, Name: c.name, Version: g.version(),
			UpdatedAt: cfg.ref.Add(-730*day + time.Duration(i)*time.Hour),
		})
	}
	perEnt := cfg.products / cfg.enterprises
	extra := cfg.products % cfg.enterprises
	g.d.ents = make([]*enterpriseData, cfg.enterprises)
	for e := range cfg.enterprises {
		n := perEnt
		if e < extra {
			n++
		}
		g.d.ents[e] = g.enterprise(e, n)
	}
	g.cases()
	g.d.seq = g.seq
	return g.d
}

func (g *generator) text(t client.Text, r *rand.Rand) client.Text {
	if !g.cfg.hostile {
		return t
	}
	h := hostileTexts[r.IntN(len(hostileTexts))]
	return client.Text{ZH: h + t.ZH + rlo, EN: t.EN + h + rlo}
}

func (g *generator) verifyURL(kind, id string) string {
	return g.cfg.verifyBase + "/" + kind + "/" + id
}

func (g *generator) enterprise(e, products int) *enterpriseData {
	r := rand.New(rand.NewPCG(g.cfg.seed, uint64(e)))
	var cur *curated
	if e < len(curatedSet) {
		cur = &curatedSet[e]
	}

	tn := tradeNames[r.IntN(len(tradeNames))]
	reg := regions[r.IntN(len(regions))]
	cats := []int{r.IntN(len(categories))}
	if r.IntN(3) == 0 {
		if c := r.IntN(len(categories)); c != cats[0] {
			cats = append(cats, c)
		}
	}
	if cur != nil {
		tn, reg, cats = cur.name, regions[cur.region], []int{cur.category}
	}
	ind := categories[cats[0]].industry
	// Several makers may share a trade name in different cities, as in life;
	// the number keeps the generated names apart in large sets.
	suffix := ""
	if e >= len(tradeNames) {
		suffix = strconv.Itoa(e/len(tradeNames) + 1)
	}
	name := client.Text{
		ZH: reg.city.ZH + tn.zh + suffix + ind.ZH + "有限公司",
		EN: reg.city.EN + " " + tn.en + suffix + " " + ind.EN + " Co., Ltd.",
	}
	name = g.text(name, r)
	if g.cfg.hostile && e == 1 {
		name.ZH = strings.Repeat("很长的名字", 700) // 10 KB: renderers must truncate or wrap, not break
	}

	d := &enterpriseData{cats: cats, products: products, hostile: g.cfg.hostile}
	d.brands = []brand{{name: tn.zh, code: tn.code}}
	if r.IntN(4) == 0 && cur == nil {
		d.brands = append(d.brands, brand{name: tn.en, code: tn.code + "X"})
	}
	if g.cfg.hostile {
		d.brands[0].name = hostileTexts[e%len(hostileTexts)]
	}

	id := fmt.Sprintf("ent_%07d", e+1)
	v := g.version()
	listed := g.cfg.ref.Add(-time.Duration(400+r.IntN(1100)) * day)
	catCodes := make([]string, len(cats))
	for i, c := range cats {
		catCodes[i] = categories[c].code
	}
	d.ent = &client.Enterprise{
		ID:         id,
		USCC:       uscc(reg.code, e, g.cfg.seed),
		Name:       name,
		RegionCode: reg.code,
		Region:     client.Text{ZH: reg.province.ZH + reg.city.ZH + "市", EN: reg.city.EN + ", " + reg.province.EN},
		Categories: catCodes,
		ListedAt:   listed,
		Version:    v,
		UpdatedAt:  listed.Add(time.Duration(r.IntN(300)) * day),
		VerifyURL:  g.verifyURL("enterprises", id),
	}

	for i, c := range cats {
		d.commitments = append(d.commitments, g.commitment(e, i, c, d, r, cur))
	}
	g.inspections(e, d, r, cur)
	if cur != nil && products > 0 {
		p := productOf(e, 0, d)
		g.d.demo = append(g.d.demo, DemoProduct{
			GTIN: p.GTIN, USCC: d.ent.USCC, Brand: p.Brand, Model: p.Model,
			Verdict: cur.verdict, About: cur.about,
		})
	}
	return d
}

func (g *generator) commitment(e, i, c int, d *enterpriseData, r *rand.Rand, cur *curated) *client.Commitment {
	spec := categories[c]
	id := fmt.Sprintf("cmt_%07d_%d", e+1, i+1)
	ref := g.cfg.ref
	effective := ref.Add(-time.Duration(30+r.IntN(900)) * day)
	expires := effective.AddDate(3, 0, 0)
	status := client.CommitmentActive
	switch x := r.IntN(100); {
	case x < 3:
		status = client.CommitmentSuspended
	case x < 6:
		status = client.CommitmentRevoked
	case x < 10:
		status = client.CommitmentExpired
		expires = ref.Add(-time.Duration(1+r.IntN(200)) * day)
	}
	changed := effective
	if status != client.CommitmentActive {
		changed = ref.Add(-time.Duration(1+r.IntN(200)) * day)
	}
	if cur != nil {
		status = cur.status
		effective = ref.Add(-400 * day)
		expires = effective.AddDate(3, 0, 0)
		changed = effective
		if cur.changedAgo > 0 {
			changed = ref.Add(-time.Duration(cur.changedAgo) * day)
		}
		if status == client.CommitmentExpired {
			expires = changed
		}
		if cur.lapsed {
			expires = ref.Add(-3 * day)
		}
		if cur.futureDays > 0 {
			effective = ref.Add(time.Duration(cur.futureDays) * day)
			expires = effective.AddDate(3, 0, 0)
			changed = ref.Add(-2 * day)
		}
	}
	if expires.Before(changed) && status == client.CommitmentActive {
		expires = changed.AddDate(3, 0, 0)
	}

	scope := client.Scope{}
	for _, b := range d.brands {
		scope.Brands = append(scope.Brands, b.name)
	}
	if r.IntN(2) == 0 {
		scope.GTINPrefixes = []string{"69" + strconv.Itoa(companyBase+e)}
	}
	items := make([]client.CommitmentItem, 0, len(spec.items)+len(commonItems))
	for _, it := range append(append([]client.CommitmentItem{}, spec.items...), commonItems...) {
		it.Text = g.text(it.Text, r)
		items = append(items, it)
	}
	var reason *client.Text
	switch status {
	case client.CommitmentSuspended:
		reason = &client.Text{ZH: "监督抽查不合格，责令整改期间暂停", EN: "Suspended while failures found in sampling are rectified"}
	case client.CommitmentRevoked:
		reason = &client.Text{ZH: "未履行承诺事项，依法撤销", EN: "Revoked for failing to keep the commitment"}
	case client.CommitmentExpired:
		reason = &client.Text{ZH: "承诺期满未续签", EN: "Not renewed at the end of its term"}
	}
	v := g.version()
	return &client.Commitment{
		ID:              id,
		EnterpriseID:    d.ent.ID,
		Category:        spec.code,
		Scope:           scope,
		Items:           items,
		EffectiveAt:     effective,
		ExpiresAt:       expires,
		Status:          status,
		StatusChangedAt: changed,
		StatusReason:    reason,
		Version:         v,
		UpdatedAt:       latest(changed, effective.Add(-day)),
		VerifyURL:       g.verifyURL("commitments", id),
	}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (g *generator) inspections(e int, d *enterpriseData, r *rand.Rand, cur *curated) {
	var plan []curatedInspection
	if cur != nil {
		plan = cur.inspections
	} else {
		for range r.IntN(4) {
			res := client.InspectionPass
			switch x := r.IntN(100); {
			case x < 12:
				res = client.InspectionFail
			case x < 20:
				res = client.InspectionPending
			}
			plan = append(plan, curatedInspection{daysAgo: 1 + r.IntN(700), result: res})
		}
	}
	if d.products == 0 {
		return
	}
	for _, p := range plan {
		j := 0
		if cur == nil {
			j = r.IntN(d.products)
		}
		prod := productOf(e, j, d)
		g.d.inspections = append(g.d.inspections, g.inspection(d, prod, p.daysAgo, p.result, r))
	}
}

func (g *generator) inspection(d *enterpriseData, prod client.Product, daysAgo int, res client.InspectionResult, r *rand.Rand) *client.Inspection {
	g.insp++
	id := fmt.Sprintf("ins_%08d", g.insp)
	published := g.cfg.ref.Add(-time.Duration(daysAgo) * day).Add(10 * time.Hour)
	sampled := published.Add(-time.Duration(20+r.IntN(40)) * day)
	reg := regionOf(d.ent.RegionCode)
	var spec categorySpec
	for _, c := range categories {
		if c.code == prod.Category {
			spec = c
		}
	}
	in := &client.Inspection{
		ID:           id,
		EnterpriseID: d.ent.ID,
		Category:     prod.Category,
		Product: client.SampledProduct{
			Name: prod.Name, Brand: prod.Brand, Model: prod.Model, GTIN: prod.GTIN,
			Batch: sampled.Format("20060102") + "-" + strconv.Itoa(1+r.IntN(9)),
		},
		Authority:   client.Text{ZH: reg.province.ZH + "市场监督管理局", EN: reg.province.EN + " Administration for Market Regulation"},
		SampledAt:   sampled,
		PublishedAt: published,
		Result:      res,
		ReportNo:    fmt.Sprintf("QC%s%06d", published.Format("2006"), g.insp),
		VerifyURL:   g.verifyURL("inspections", id),
	}
	if res == client.InspectionFail {
		f := spec.failures[r.IntN(len(spec.failures))]
		f.Item = g.text(f.Item, r)
		in.FailedItems = []client.FailedItem{f}
		in.Rectification = &client.Rectification{Status: "ordered", Deadline: published.Add(60 * day)}
		if daysAgo > 60 {
			done := published.Add(45 * day)
			in.Rectification = &client.Rectification{Status: "completed", Deadline: published.Add(60 * day), CompletedAt: &done}
		}
	}
	in.Version = g.version()
	in.UpdatedAt = published
	return in
}

func regionOf(code string) region {
	for _, r := range regions {
		if r.code == code {
			return r
		}
	}
	return regions[0]
}

func (g *generator) cases() {
	r := rand.New(rand.NewPCG(g.cfg.seed, 1<<62))
	type caseSpec struct {
		title, summary client.Text
		cat            string
	}
	specs := []caseSpec{
		{client.Text{ZH: "网络销售假冒注册商标围巾案", EN: "Counterfeit branded scarves sold online"},
			client.Text{ZH: "当事人在电商平台店铺销售假冒“%s”注册商标的羊绒围巾，货值金额较大，已依法没收并处罚款。", EN: "A shop on an e-commerce platform sold cashmere scarves bearing a counterfeit \"%s\" trademark; the goods were confiscated and a fine imposed."}, ""},
		{client.Text{ZH: "销售不合格儿童服装案", EN: "Sub-standard children's clothing sold online"},
			client.Text{ZH: "抽检发现“%s”儿童卫衣绳带不符合GB 31701-2015要求，销售者被责令下架并召回。", EN: "Children's hoodies of the \"%s\" brand had drawstrings that break GB 31701-2015; the seller was ordered to delist and recall them."}, "childrens_clothing"},
		{client.Text{ZH: "伪造质量承诺标识案", EN: "Forged quality-commitment badge"},
			client.Text{ZH: "网店在商品页面使用伪造的质量承诺标识宣传“%s”电热水壶，构成虚假宣传。", EN: "An online shop showed a forged quality-commitment badge for \"%s\" kettles, which is false advertising."}, "household_appliances"},
		{client.Text{ZH: "销售假冒洗衣液案", EN: "Counterfeit laundry liquid"},
			client.Text{ZH: "当事人销售假冒“%s”品牌洗衣液，总活性物含量仅为标称值的一半。", EN: "Counterfeit \"%s\" laundry liquid was sold with half the declared active matter."}, "washing_products"},
		{client.Text{ZH: "销售增塑剂超标玩具案", EN: "Toys with excess plasticisers"},
			client.Text{ZH: "“%s”毛绒玩具增塑剂含量超标八倍，平台配合下架全部链接。", EN: "\"%s\" plush toys held eight times the permitted plasticisers; the platform removed every listing."}, "toys"},
	}
	n := max(12, len(g.d.ents)/100)
	for i := range n {
		s := specs[i%len(specs)]
		tn := tradeNames[r.IntN(len(tradeNames))]
		id := fmt.Sprintf("case_%06d", i+1)
		v := g.version()
		published := g.cfg.ref.Add(-time.Duration(5+r.IntN(700)) * day)
		reg := regions[r.IntN(len(regions))]
		c := &client.Case{
			ID:          id,
			Title:       g.text(s.title, r),
			Summary:     g.text(client.Text{ZH: fmt.Sprintf(s.summary.ZH, tn.zh), EN: fmt.Sprintf(s.summary.EN, tn.en)}, r),
			Category:    s.cat,
			Brand:       tn.zh,
			Platform:    platforms[r.IntN(len(platforms))],
			Authority:   client.Text{ZH: reg.city.ZH + "市市场监督管理局", EN: reg.city.EN + " Administration for Market Regulation"},
			PublishedAt: published,
			Version:     v,
			UpdatedAt:   published,
			VerifyURL:   g.verifyURL("cases", id),
		}
		g.d.cases = append(g.d.cases, c)
	}
}

// uscc builds the enterprise's credit code: "91" (a company), the region
// code, a 9-character organisation code unique per (seed, e), and the check
// character.
func uscc(regionCode string, e int, seed uint64) client.USCC {
	const charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	const space = 31 * 31 * 31 * 31 * 31 * 31 * 31
	// An affine map with a multiplier prime to 31 is a bijection on
	// [0, 31^7), so distinct enterprises get distinct codes.
	v := (uint64(e)*2654435761 + (seed*0x9E3779B97F4A7C15)%space) % space
	var org [9]byte
	org[0], org[1] = 'M', 'A'
	for i := 8; i >= 2; i-- {
		org[i] = charset[v%31]
		v /= 31
	}
	u, err := client.CompleteUSCC("91" + regionCode + string(org[:]))
	if err != nil {
		panic("sandbox: generated an invalid USCC: " + err.Error()) // a bug in this file, not bad input
	}
	return u
}

// productOf computes product j of an enterprise.
func productOf(e, j int, d *enterpriseData) client.Product {
	b := d.brands[j%len(d.brands)]
	c := categories[d.cats[j%len(d.cats)]]
	name := c.products[(j/len(d.cats))%len(c.products)]
	if d.hostile {
		h := hostileTexts[j%len(hostileTexts)]
		name = client.Text{ZH: name.ZH + h, EN: h + name.EN}
	}
	gtin, err := client.CompleteGTIN("69" + strconv.Itoa(companyBase+e) + strconv.Itoa(itemBase+j))
	if err != nil {
		panic("sandbox: generated an invalid GTIN: " + err.Error())
	}
	return client.Product{
		Name:     name,
		Brand:    b.name,
		Model:    b.code + "-" + strconv.Itoa(1000+j),
		GTIN:     gtin,
		Category: c.code,
	}
}
