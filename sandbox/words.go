package sandbox

import (
	"strings"

	"github.com/qualitycommit/qcsdk/client"
)

// The word pools the generator draws from. Names are fictional; region codes
// are the real GB/T 2260 codes of the cities, and the standards are the real
// national standards of each category, so the data reads like the registry.

type region struct {
	code     string
	city     client.Text
	province client.Text // the market regulator that inspects there
}

var regions = []region{
	{"330100", client.Text{ZH: "杭州", EN: "Hangzhou"}, client.Text{ZH: "浙江省", EN: "Zhejiang"}},
	{"330200", client.Text{ZH: "宁波", EN: "Ningbo"}, client.Text{ZH: "浙江省", EN: "Zhejiang"}},
	{"330300", client.Text{ZH: "温州", EN: "Wenzhou"}, client.Text{ZH: "浙江省", EN: "Zhejiang"}},
	{"440300", client.Text{ZH: "深圳", EN: "Shenzhen"}, client.Text{ZH: "广东省", EN: "Guangdong"}},
	{"440600", client.Text{ZH: "佛山", EN: "Foshan"}, client.Text{ZH: "广东省", EN: "Guangdong"}},
	{"441900", client.Text{ZH: "东莞", EN: "Dongguan"}, client.Text{ZH: "广东省", EN: "Guangdong"}},
	{"320500", client.Text{ZH: "苏州", EN: "Suzhou"}, client.Text{ZH: "江苏省", EN: "Jiangsu"}},
	{"320200", client.Text{ZH: "无锡", EN: "Wuxi"}, client.Text{ZH: "江苏省", EN: "Jiangsu"}},
	{"350200", client.Text{ZH: "厦门", EN: "Xiamen"}, client.Text{ZH: "福建省", EN: "Fujian"}},
	{"350500", client.Text{ZH: "泉州", EN: "Quanzhou"}, client.Text{ZH: "福建省", EN: "Fujian"}},
	{"370200", client.Text{ZH: "青岛", EN: "Qingdao"}, client.Text{ZH: "山东省", EN: "Shandong"}},
	{"310100", client.Text{ZH: "上海", EN: "Shanghai"}, client.Text{ZH: "上海市", EN: "Shanghai"}},
	{"420100", client.Text{ZH: "武汉", EN: "Wuhan"}, client.Text{ZH: "湖北省", EN: "Hubei"}},
	{"510100", client.Text{ZH: "成都", EN: "Chengdu"}, client.Text{ZH: "四川省", EN: "Sichuan"}},
	{"410100", client.Text{ZH: "郑州", EN: "Zhengzhou"}, client.Text{ZH: "河南省", EN: "Henan"}},
	{"130600", client.Text{ZH: "保定", EN: "Baoding"}, client.Text{ZH: "河北省", EN: "Hebei"}},
}

// tradeName is a fictional trade name: the Chinese words, their pinyin, and
// a short code used in model numbers.
type tradeName struct {
	zh, en, code string
}

var tradeNames = []tradeName{
	{"清源", "Qingyuan", "QY"}, {"华信", "Huaxin", "HX"}, {"瑞丰", "Ruifeng", "RF"},
	{"永安", "Yong'an", "YA"}, {"德盛", "Desheng", "DS"}, {"嘉禾", "Jiahe", "JH"},
	{"锦程", "Jincheng", "JC"}, {"恒泰", "Hengtai", "HT"}, {"新禾", "Xinhe", "XH"},
	{"安泽", "Anze", "AZ"}, {"明辉", "Minghui", "MH"}, {"佳宝", "Jiabao", "JB"},
	{"悦然", "Yueran", "YR"}, {"宏远", "Hongyuan", "HY"}, {"春晖", "Chunhui", "CH"},
	{"和润", "Herun", "HR"}, {"博雅", "Boya", "BY"}, {"立诚", "Licheng", "LC"},
	{"沐阳", "Muyang", "MY"}, {"青禾", "Qinghe", "QH"}, {"鑫达", "Xinda", "XD"},
	{"宜家乐", "Yijiale", "YJ"}, {"贝恩", "Bei'en", "BE"}, {"童悦", "Tongyue", "TY"},
	{"洁诺", "Jienuo", "JN"}, {"澜泉", "Lanquan", "LQ"}, {"远航", "Yuanhang", "YH"},
	{"星禾", "Xinghe", "XG"}, {"盛源", "Shengyuan", "SY"}, {"凯越", "Kaiyue", "KY"},
	{"晴川", "Qingchuan", "QC"}, {"云帆", "Yunfan", "YF"},
}

type categorySpec struct {
	code     string
	name     client.Text
	industry client.Text // the words a maker in this category has in its name
	products []client.Text
	items    []client.CommitmentItem
	failures []client.FailedItem
}

// Promises every category shares: the "three guarantees" of Chinese consumer
// law (return, replacement, repair) and truthful labelling.
var commonItems = []client.CommitmentItem{
	{Kind: "return", Text: client.Text{ZH: "售出之日起7日内可无理由退货", EN: "Returns without reason within 7 days of sale"}},
	{Kind: "labelling", Text: client.Text{ZH: "产品标识、说明书与实际一致", EN: "Labels and instructions match the product"}},
}

var categories = []categorySpec{
	{
		code:     "household_appliances",
		name:     client.Text{ZH: "家用电器", EN: "Household appliances"},
		industry: client.Text{ZH: "电器", EN: "Electric Appliance"},
		products: []client.Text{
			{ZH: "电热水壶", EN: "Electric kettle"}, {ZH: "电饭煲", EN: "Rice cooker"},
			{ZH: "空气炸锅", EN: "Air fryer"}, {ZH: "电吹风", EN: "Hair dryer"},
			{ZH: "电风扇", EN: "Electric fan"}, {ZH: "微波炉", EN: "Microwave oven"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB 4706.1-2005", Text: client.Text{ZH: "符合家用和类似用途电器安全通用要求", EN: "Meets the general safety requirements for household electrical appliances"}},
			{Kind: "repair", Text: client.Text{ZH: "整机保修三年，主要部件保修五年", EN: "Three-year repair guarantee, five years for main parts"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "对触及带电部件的防护", EN: "Protection against access to live parts"}, Requirement: "GB 4706.1-2005 §8", Measured: "试验指可触及带电部件"},
			{Item: client.Text{ZH: "输入功率和电流", EN: "Power input and current"}, Requirement: "偏差 ≤ +10%", Measured: "+18.4%"},
			{Item: client.Text{ZH: "发热", EN: "Heating"}, Requirement: "外壳温升 ≤ 60 K", Measured: "78 K"},
		},
	},
	{
		code:     "washing_products",
		name:     client.Text{ZH: "洗涤用品", EN: "Washing products"},
		industry: client.Text{ZH: "日化", EN: "Daily Chemical"},
		products: []client.Text{
			{ZH: "洗衣液", EN: "Laundry liquid"}, {ZH: "洗衣粉", EN: "Washing powder"},
			{ZH: "洗洁精", EN: "Dishwashing liquid"}, {ZH: "衣物柔顺剂", EN: "Fabric softener"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB/T 13174-2008", Text: client.Text{ZH: "符合衣料用液体洗涤剂标准", EN: "Meets the standard for liquid laundry detergents"}},
			{Kind: "standard", Standard: "GB 9985-2000", Text: client.Text{ZH: "符合手洗餐具用洗涤剂标准", EN: "Meets the standard for hand dishwashing detergents"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "总活性物含量", EN: "Total active matter"}, Requirement: "≥ 15%", Measured: "9.2%"},
			{Item: client.Text{ZH: "pH值", EN: "pH value"}, Requirement: "4.0–10.5", Measured: "11.6"},
		},
	},
	{
		code:     "childrens_clothing",
		name:     client.Text{ZH: "儿童服装", EN: "Children's clothing"},
		industry: client.Text{ZH: "服饰", EN: "Garment"},
		products: []client.Text{
			{ZH: "儿童卫衣", EN: "Children's hoodie"}, {ZH: "婴儿连体衣", EN: "Baby romper"},
			{ZH: "儿童羽绒服", EN: "Children's down jacket"}, {ZH: "儿童T恤", EN: "Children's T-shirt"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB 31701-2015", Text: client.Text{ZH: "符合婴幼儿及儿童纺织产品安全技术规范", EN: "Meets the safety code for infants' and children's textile products"}},
			{Kind: "standard", Standard: "GB 18401-2010", Text: client.Text{ZH: "符合国家纺织产品基本安全技术规范", EN: "Meets the national basic safety code for textile products"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "绳带", EN: "Cords and drawstrings"}, Requirement: "GB 31701-2015 §5.2", Measured: "帽部有可抽出绳带"},
			{Item: client.Text{ZH: "pH值", EN: "pH value"}, Requirement: "4.0–7.5", Measured: "8.3"},
			{Item: client.Text{ZH: "纤维含量", EN: "Fibre content"}, Requirement: "标注 棉100%", Measured: "棉 62.4%"},
		},
	},
	{
		code:     "toys",
		name:     client.Text{ZH: "玩具", EN: "Toys"},
		industry: client.Text{ZH: "玩具", EN: "Toys"},
		products: []client.Text{
			{ZH: "积木", EN: "Building blocks"}, {ZH: "毛绒玩具", EN: "Plush toy"}, {ZH: "遥控车", EN: "Remote-control car"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB 6675.1-2014", Text: client.Text{ZH: "符合玩具安全基本规范", EN: "Meets the basic code for toy safety"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "可触及的锐利尖端", EN: "Accessible sharp points"}, Requirement: "GB 6675.2-2014 §4.7", Measured: "不合格"},
			{Item: client.Text{ZH: "增塑剂", EN: "Plasticisers"}, Requirement: "≤ 0.1%", Measured: "0.82%"},
		},
	},
	{
		code:     "stationery",
		name:     client.Text{ZH: "学生用品", EN: "Stationery"},
		industry: client.Text{ZH: "文具", EN: "Stationery"},
		products: []client.Text{
			{ZH: "中性笔", EN: "Gel pen"}, {ZH: "橡皮擦", EN: "Eraser"}, {ZH: "笔记本", EN: "Notebook"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB 21027-2020", Text: client.Text{ZH: "符合学生用品的安全通用要求", EN: "Meets the general safety requirements for student supplies"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "可迁移元素", EN: "Migratable elements"}, Requirement: "铅 ≤ 90 mg/kg", Measured: "212 mg/kg"},
		},
	},
	{
		code:     "furniture",
		name:     client.Text{ZH: "家具", EN: "Furniture"},
		industry: client.Text{ZH: "家具", EN: "Furniture"},
		products: []client.Text{
			{ZH: "书桌", EN: "Desk"}, {ZH: "衣柜", EN: "Wardrobe"}, {ZH: "儿童床", EN: "Children's bed"},
		},
		items: []client.CommitmentItem{
			{Kind: "standard", Standard: "GB 18584-2001", Text: client.Text{ZH: "符合木家具中有害物质限量", EN: "Meets the limits of harmful substances in wooden furniture"}},
		},
		failures: []client.FailedItem{
			{Item: client.Text{ZH: "甲醛释放量", EN: "Formaldehyde emission"}, Requirement: "≤ 1.5 mg/L", Measured: "3.1 mg/L"},
		},
	},
}

// Fictional marketplaces for the typical cases.
var platforms = []string{"集市网", "优选购", "好物汇", "淘乐街"}

// Text a hostile registry could send, used when the sandbox runs with
// WithHostileText: markup, script URLs, broken UTF-8, bidirectional
// overrides and very long names, so renderers can be tested against them.
var hostileTexts = []string{
	`<script>alert("qc")</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(document.cookie)`,
	"\xff\xfe broken \xc3\x28 utf-8",
	"\u202eevil\u202c 反转文字",
	`{{ .Secret }} ${7*7} <svg onload=alert(1)>`,
	"</style><style>body{display:none}</style>",
	"' OR 1=1; --",
	"\u2067unterminated isolate 未结束的隔离",
	"https://example.com/" + strings.Repeat("unbreakable", 24), // 284 bytes without a space
}

// rlo is an unterminated RIGHT-TO-LEFT OVERRIDE: hostile text ends with
// it, so that a renderer that does not isolate registry text shows
// whatever follows it reversed.
const rlo = "\u202e"
