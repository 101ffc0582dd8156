package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/qualitycommit/qcsdk/api"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// loadSpec loads and validates the embedded document. Every test starts
// from a fresh copy, so a test that edits the document (the router tests
// drop the servers) cannot leak into another.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(api.Spec())
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func TestSpecReturnsACopy(t *testing.T) {
	a := api.Spec()
	if len(a) == 0 {
		t.Fatal("Spec() is empty")
	}
	a[0] ^= 0xff
	if b := api.Spec(); b[0] == a[0] {
		t.Fatal("Spec() shares its bytes between calls")
	}
}

func TestSpecIsValidOpenAPI31(t *testing.T) {
	doc := loadSpec(t)
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPIMajorMinor() != "3.1" {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if got, want := doc.Info.Title, "Quality Commitment Public Query API"; got != want {
		t.Errorf("info.title = %q, want %q", got, want)
	}
	if got, want := doc.Info.Version, "1.0.0"; got != want {
		t.Errorf("info.version = %q, want %q", got, want)
	}
	if doc.Info.License == nil || doc.Info.License.Identifier != "Apache-2.0" {
		t.Errorf("info.license = %+v, want SPDX identifier Apache-2.0", doc.Info.License)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL != "http://127.0.0.1:8080" {
		t.Errorf("servers[0] is not the sandbox at http://127.0.0.1:8080")
	}
	if len(doc.Security) != 1 {
		t.Fatalf("want one global security requirement, got %d", len(doc.Security))
	}
	if _, ok := doc.Security[0]["bearerAuth"]; !ok {
		t.Errorf("global security does not require bearerAuth")
	}
	ss := doc.Components.SecuritySchemes["bearerAuth"]
	if ss == nil || ss.Value.Type != "http" || !strings.EqualFold(ss.Value.Scheme, "bearer") {
		t.Errorf("securitySchemes.bearerAuth is not HTTP bearer")
	}
}

func TestWebhook(t *testing.T) {
	doc := loadSpec(t)
	item := doc.Webhooks["changeEvent"]
	if item == nil || item.Post == nil {
		t.Fatal("webhooks.changeEvent.post is missing")
	}
	op := item.Post
	if op.OperationID == "" {
		t.Error("webhook operation has no operationId")
	}
	if op.Security == nil || len(*op.Security) != 0 {
		t.Error("webhook must override the global bearer requirement with security: []")
	}
	for _, name := range []string{"QC-Signature", "QC-Event-Id"} {
		p := op.Parameters.GetByInAndName(openapi3.ParameterInHeader, name)
		if p == nil || !p.Required {
			t.Errorf("webhook lacks required header %s", name)
		}
	}
	sig := op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "QC-Signature")
	if sig != nil {
		body := []byte(`{"id":"evt_1"}`)
		now := time.Unix(1735689600, 0)
		for _, v := range []string{
			"t=1735689600,v1=" + strings.Repeat("ab", 32),
			client.SignWebhook(body, now, "secret"),
			client.SignWebhook(body, now, "old secret", "new secret"),
		} {
			if err := sig.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("QC-Signature %q rejected: %v", v, err)
			}
		}
		for _, v := range []string{"v1=" + strings.Repeat("ab", 32), "t=1,v1=xyz", "t=1"} {
			if sig.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()) == nil {
				t.Errorf("QC-Signature %q accepted", v)
			}
		}
	}
	if op.RequestBody == nil || schemaRefName(op.RequestBody.Value.Content.Get("application/json").Schema) != "Event" {
		t.Error("webhook body is not the Event schema")
	}
	for _, want := range []string{"5 minutes", "rotat", "HMAC-SHA256", "<t>.<body>"} {
		if !strings.Contains(op.Description, want) {
			t.Errorf("webhook description does not mention %q", want)
		}
	}
	if op.Responses.Value("2XX") == nil {
		t.Error("webhook does not document the 2XX answer")
	}
}

// route is one row of the route table in README.md.
type route struct {
	method, path string
	query        []string // query parameters the row names
}

// readmeSection returns the lines of the "## title" section of README.md.
func readmeSection(t *testing.T, title string) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line[3:]) == title
			continue
		}
		if in {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("README.md has no %q section", title)
	}
	return lines
}

// tableRows returns the cells of the body rows of the first Markdown table
// in lines.
func tableRows(lines []string) [][]string {
	var rows [][]string
	seenSep := false
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if seenSep {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(cells[0], "---") {
			seenSep = true
			continue
		}
		if seenSep {
			rows = append(rows, cells)
		}
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]+)`")

func readmeRoutes(t *testing.T) []route {
	t.Helper()
	var out []route
	for _, cells := range tableRows(readmeSection(t, "Routes")) {
		if len(cells) < 3 {
			t.Fatalf("route row %q has %d cells", cells, len(cells))
		}
		m := backticked.FindStringSubmatch(cells[1])
		if m == nil {
			t.Fatalf("route row %q has no backticked path", cells)
		}
		r := route{method: strings.ToUpper(cells[0])}
		path, query, _ := strings.Cut(m[1], "?")
		r.path = path
		if query != "" {
			for kv := range strings.SplitSeq(query, "&") {
				k, _, _ := strings.Cut(kv, "=")
				r.query = append(r.query, k)
			}
		}
		if _, filters, ok := strings.Cut(cells[2], "filters"); ok {
			for _, f := range backticked.FindAllStringSubmatch(filters, -1) {
				r.query = append(r.query, f[1])
			}
		}
		out = append(out, r)
	}
	if len(out) < 10 {
		t.Fatalf("parsed only %d routes from README.md", len(out))
	}
	return out
}

// operations lists the operations under paths (not webhooks), sorted.
func operations(doc *openapi3.T) []route {
	var out []route
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, route{method: method, path: path})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].method < out[j].method
	})
	return out
}

func TestRoutesMatchReadme(t *testing.T) {
	doc := loadSpec(t)
	want := map[string]bool{}
	for _, r := range readmeRoutes(t) {
		want[r.method+" "+r.path] = true
		item := doc.Paths.Value(r.path)
		if item == nil {
			t.Errorf("README route %s %s: path missing from openapi.yaml", r.method, r.path)
			continue
		}
		op := item.GetOperation(r.method)
		if op == nil {
			t.Errorf("README route %s %s: method missing from openapi.yaml", r.method, r.path)
			continue
		}
		for _, q := range r.query {
			if op.Parameters.GetByInAndName(openapi3.ParameterInQuery, q) == nil {
				t.Errorf("%s %s: README names query parameter %q, openapi.yaml does not", r.method, r.path, q)
			}
		}
	}
	for _, r := range operations(doc) {
		if !want[r.method+" "+r.path] {
			t.Errorf("openapi.yaml has %s %s, which README.md's route table does not list", r.method, r.path)
		}
	}
}

// problemResponses maps each error status to the component response that
// documents it.
var problemResponses = map[string]string{
	"400": "BadRequest",
	"401": "Unauthorized",
	"404": "NotFound",
	"405": "MethodNotAllowed",
	"409": "Conflict",
	"413": "PayloadTooLarge",
	"415": "UnsupportedMediaType",
	"429": "TooManyRequests",
	"500": "InternalError",
	"503": "ServiceUnavailable",
}

func TestOperations(t *testing.T) {
	doc := loadSpec(t)
	ids := map[string]string{}
	for _, r := range operations(doc) {
		op := doc.Paths.Value(r.path).GetOperation(r.method)
		name := r.method + " " + r.path
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", name)
		} else if prev, dup := ids[op.OperationID]; dup {
			t.Errorf("%s: operationId %q already used by %s", name, op.OperationID, prev)
		} else {
			ids[op.OperationID] = name
		}
		if op.Summary == "" {
			t.Errorf("%s: no summary", name)
		}
		if op.Security != nil {
			t.Errorf("%s: overrides the global security requirement", name)
		}

		// Which error answers the operation can produce.
		hasInput := op.RequestBody != nil
		for _, p := range op.Parameters {
			if in := p.Value.In; in == openapi3.ParameterInQuery || in == openapi3.ParameterInPath {
				hasInput = true
			}
		}
		want := []string{"401", "429", "500", "503"}
		if hasInput {
			want = append(want, "400")
		}
		if strings.Contains(r.path, "{id}") {
			want = append(want, "404")
		}
		if op.RequestBody != nil {
			want = append(want, "413", "415")
		}
		if op.OperationID == "createReport" {
			want = append(want, "409")
		}
		if op.OperationID == "getProductByGTIN" {
			// Its template matches /v1/products/batch, which takes only POST.
			want = append(want, "405")
		}
		for _, status := range want {
			ref := op.Responses.Value(status)
			if ref == nil {
				t.Errorf("%s: does not document %s", name, status)
				continue
			}
			if got, want := ref.Ref, "#/components/responses/"+problemResponses[status]; got != want {
				t.Errorf("%s: %s is %q, want $ref %q", name, status, got, want)
			}
		}
		if ref := op.Responses.Default(); ref == nil || ref.Ref != "#/components/responses/UnexpectedError" {
			t.Errorf("%s: default response is not UnexpectedError", name)
		}

		// Every answer, success or error, carries the rate-limit headers and
		// the request id, by reference to components/headers.
		for status, ref := range op.Responses.Map() {
			resp := ref.Value
			for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-Id"} {
				checkHeaderRef(t, name+" "+status, resp, h)
			}
			if status == "429" || status == "503" {
				checkHeaderRef(t, name+" "+status, resp, "Retry-After")
			}
			if status == "default" || status >= "400" {
				checkProblemContent(t, name+" "+status, resp)
			}
		}

		if r.method == http.MethodGet {
			if op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "If-None-Match") == nil {
				t.Errorf("%s: no If-None-Match parameter", name)
			}
			nm := op.Responses.Value("304")
			if nm == nil {
				t.Errorf("%s: no 304 answer", name)
			} else if len(nm.Value.Content) != 0 {
				t.Errorf("%s: 304 has a body", name)
			}
			ok := op.Responses.Value("200")
			if ok == nil {
				t.Errorf("%s: no 200 answer", name)
				continue
			}
			checkHeaderRef(t, name+" 200", ok.Value, "ETag")
			checkHeaderRef(t, name+" 200", ok.Value, "Cache-Control")
			// The log's checkpoint and leaves are text, as signed and
			// as hashed; every other answer is JSON.
			text := op.Tags[0] == "log" && ok.Value.Content.Get("text/plain") != nil
			if ok.Value.Content.Get("application/json") == nil && !text {
				t.Errorf("%s: 200 is not application/json", name)
			}
		}
		if op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "X-Request-Id") == nil {
			t.Errorf("%s: no X-Request-Id request header", name)
		}
	}

	// POST /v1/reports: idempotency.
	op := doc.Paths.Value("/v1/reports").Post
	key := op.Parameters.GetByInAndName(openapi3.ParameterInHeader, "Idempotency-Key")
	if key == nil {
		t.Fatal("POST /v1/reports has no Idempotency-Key header")
	}
	if s := key.Schema.Value; s.MinLength != 1 || s.MaxLength == nil || *s.MaxLength != 255 {
		t.Errorf("Idempotency-Key is not a 1-255 character string")
	}
	created := op.Responses.Value("201")
	if created == nil || created.Value.Headers["Location"] == nil || !created.Value.Headers["Location"].Value.Required {
		t.Error("POST /v1/reports 201 lacks a required Location header")
	}
	replay := op.Responses.Value("200")
	if replay == nil {
		t.Fatal("POST /v1/reports documents no 200 replay")
	}
	checkHeaderRef(t, "POST /v1/reports 200", replay.Value, "Idempotent-Replayed")

	// Every component response named in the brief exists.
	for _, name := range append(slices.Collect(maps.Values(problemResponses)), "UnexpectedError", "NotModified") {
		if doc.Components.Responses[name] == nil {
			t.Errorf("components.responses.%s is missing", name)
		}
	}
}

func checkHeaderRef(t *testing.T, where string, resp *openapi3.Response, name string) {
	t.Helper()
	h := resp.Headers[name]
	if h == nil {
		t.Errorf("%s: no %s header", where, name)
		return
	}
	if want := "#/components/headers/" + name; h.Ref != want {
		t.Errorf("%s: header %s is not $ref %s", where, name, want)
	}
}

func checkProblemContent(t *testing.T, where string, resp *openapi3.Response) {
	t.Helper()
	if len(resp.Content) != 1 {
		t.Errorf("%s: want exactly application/problem+json content, got %d media types", where, len(resp.Content))
	}
	mt := resp.Content["application/problem+json"]
	if mt == nil || schemaRefName(mt.Schema) != "Problem" {
		t.Errorf("%s: not an application/problem+json Problem", where)
	}
}

func schemaRefName(s *openapi3.SchemaRef) string {
	if s == nil {
		return ""
	}
	return strings.TrimPrefix(s.Ref, "#/components/schemas/")
}

func TestProblemCodesMatchReadme(t *testing.T) {
	doc := loadSpec(t)
	var examples []string
	for _, e := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Examples {
		examples = append(examples, e.(string))
	}
	var readme []string
	for _, cells := range tableRows(readmeSection(t, "Problem codes")) {
		m := backticked.FindStringSubmatch(cells[0])
		if m == nil || len(cells) < 2 {
			t.Fatalf("problem code row %q is malformed", cells)
		}
		code, status := m[1], cells[1]
		readme = append(readme, code)
		name, ok := problemResponses[status]
		if !ok {
			t.Errorf("README code %s has status %s, which no component response documents", code, status)
			continue
		}
		resp := doc.Components.Responses[name]
		if resp == nil || !strings.Contains(*resp.Value.Description, "`"+code+"`") {
			t.Errorf("components.responses.%s does not mention code `%s`", name, code)
		}
	}
	slices.Sort(examples)
	slices.Sort(readme)
	if !slices.Equal(examples, readme) {
		t.Errorf("Problem.code examples %v differ from README.md's codes %v", examples, readme)
	}
}

// walkSchema calls f on s and every schema nested in it, once each.
func walkSchema(s *openapi3.SchemaRef, path string, seen map[*openapi3.Schema]bool, f func(path string, s *openapi3.Schema)) {
	if s == nil || s.Value == nil || seen[s.Value] {
		return
	}
	v := s.Value
	seen[v] = true
	f(path, v)
	for name, p := range v.Properties {
		walkSchema(p, path+"."+name, seen, f)
	}
	walkSchema(v.Items, path+"[]", seen, f)
	for i, list := range [][]*openapi3.SchemaRef{v.AllOf, v.AnyOf, v.OneOf} {
		for j, sub := range list {
			walkSchema(sub, path+"/"+[]string{"allOf", "anyOf", "oneOf"}[i]+"/"+string(rune('0'+j)), seen, f)
		}
	}
	walkSchema(v.Not, path+"/not", seen, f)
	walkSchema(v.If, path+"/if", seen, f)
	walkSchema(v.Then, path+"/then", seen, f)
	walkSchema(v.Else, path+"/else", seen, f)
}

// TestOpenSets checks the registry's extensible value sets are not closed
// enums: a client validating against this document must accept a value the
// registry adds later.
func TestOpenSets(t *testing.T) {
	doc := loadSpec(t)
	seen := map[*openapi3.Schema]bool{}
	for name, s := range doc.Components.Schemas {
		walkSchema(s, name, seen, func(path string, s *openapi3.Schema) {
			if len(s.Enum) != 0 {
				t.Errorf("%s is a closed enum %v; use examples and a description", path, s.Enum)
			}
			if s.Const != nil && !strings.Contains(path, "/if") {
				t.Errorf("%s is a const", path)
			}
		})
	}
	for _, r := range operations(doc) {
		for _, p := range doc.Paths.Value(r.path).GetOperation(r.method).Parameters {
			walkSchema(p.Value.Schema, r.method+" "+r.path+" "+p.Value.Name, seen, func(path string, s *openapi3.Schema) {
				if len(s.Enum) != 0 {
					t.Errorf("parameter %s is a closed enum", path)
				}
			})
		}
	}
	for _, field := range []string{
		"Commitment.status", "Inspection.result", "Event.type", "CommitmentItem.kind",
		"Rectification.status", "Report.status", "Report.kind", "ReportParams.kind", "Problem.code",
	} {
		schema, prop, _ := strings.Cut(field, ".")
		p := doc.Components.Schemas[schema].Value.Properties[prop]
		if p == nil || len(p.Value.Examples) == 0 {
			t.Errorf("%s lists no known values in examples", field)
		}
	}
}

// validate checks instance against a component schema as openapi3filter
// would check a response body of this document.
func validate(doc *openapi3.T, schema, instance string) error {
	var v any
	if err := json.Unmarshal([]byte(instance), &v); err != nil {
		panic(err)
	}
	return doc.Components.Schemas[schema].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse())
}

const (
	okEnterprise = `{"id":"ent_000123","uscc":"91440300MA5F000A1L","name":{"zh":"示例电器有限公司"},
		"region_code":"440300","region":{"zh":"广东省深圳市"},"categories":["household_appliances"],
		"listed_at":"2024-03-01T00:00:00+08:00","version":1201,"updated_at":"2024-06-01T10:00:00Z",
		"verify_url":"https://verify.example.gov.cn/enterprises/ent_000123"}`
	okCommitment = `{"id":"cmt_000456","enterprise_id":"ent_000123","category":"household_appliances",
		"scope":{"brands":["示例"]},"items":[{"kind":"standard","standard":"GB 4706.1-2005","text":{"zh":"符合"}}],
		"effective_at":"2024-03-01T00:00:00Z","expires_at":"2027-03-01T00:00:00Z","status":"active",
		"status_changed_at":"2024-03-01T00:00:00Z","version":1250,"updated_at":"2024-06-05T09:00:00Z",
		"verify_url":"https://verify.example.gov.cn/commitments/cmt_000456"}`
	okInspection = `{"id":"ins_000789","enterprise_id":"ent_000123","category":"household_appliances",
		"product":{"name":{"zh":"电热水壶"},"brand":"示例","gtin":"06901234567892"},"authority":{"zh":"市场监督管理局"},
		"sampled_at":"2024-05-01T00:00:00Z","published_at":"2024-06-01T00:00:00Z","result":"fail",
		"failed_items":[{"item":{"zh":"泄漏电流"},"requirement":"≤ 0.75 mA","measured":"1.2 mA"}],
		"report_no":"W2024-0001","rectification":{"status":"ordered","deadline":"2024-07-01T00:00:00Z"},
		"version":1300,"updated_at":"2024-06-01T00:00:00Z","verify_url":"https://verify.example.gov.cn/inspections/ins_000789"}`
)

func TestSchemasAcceptAndReject(t *testing.T) {
	doc := loadSpec(t)
	status := func(listed bool, extra string) string {
		s := `{"key":{"gtin":"06901234567892"},"listed":` + map[bool]string{true: "true", false: "false"}[listed] +
			`,"version":1250,"updated_at":"2024-06-05T09:00:00Z"`
		if extra != "" {
			s += "," + extra
		}
		return s + "}"
	}
	cases := []struct {
		name, schema, instance string
		ok                     bool
	}{
		{"listed product", "ProductStatus", status(true, `"enterprise":`+okEnterprise+`,"commitment":`+okCommitment+`,"inspections":[`+okInspection+`]`), true},
		{"not listed", "ProductStatus", `{"key":{"uscc":"91440300MA5F000A1L","brand":"示例"},"listed":false,"version":0}`, true},
		{"delisted maker", "ProductStatus", `{"key":{"uscc":"91440300MA5F000A1L","brand":"示例"},"listed":false,"version":1840,"updated_at":"2024-06-05T09:00:00Z"}`, true},
		{"listed without updated_at", "ProductStatus", strings.Replace(status(true, `"enterprise":`+okEnterprise), `,"updated_at":"2024-06-05T09:00:00Z"`, "", 1), false},
		{"listed without enterprise", "ProductStatus", status(true, ""), false},
		{"unknown commitment status is fine", "Commitment", strings.Replace(okCommitment, `"active"`, `"under_review"`, 1), true},
		{"unknown inspection result is fine", "Inspection", strings.Replace(okInspection, `"fail"`, `"retest"`, 1), true},
		{"unknown event type is fine", "Event", `{"id":"evt_1","seq":1,"cursor":"c1","type":"report.updated","occurred_at":"2024-06-01T00:00:00Z"}`, true},
		{"unknown problem code is fine", "Problem", `{"type":"about:blank","title":"Gone","status":410,"code":"gone"}`, true},
		{"new properties are fine", "Enterprise", strings.Replace(okEnterprise, `{"id"`, `{"logo_url":"https://x","id"`, 1), true},
		{"13-digit GTIN in an answer", "ProductStatus", strings.Replace(status(false, ""), "06901234567892", "6901234567892", 1), false},
		{"USCC with I", "Enterprise", strings.Replace(okEnterprise, "91440300MA5F000A1L", "91440300MA5F000AIL", 1), false},
		{"lower-case USCC", "Enterprise", strings.Replace(okEnterprise, "91440300MA5F000A1L", "91440300ma5f000a1l", 1), false},
		{"version 0", "Enterprise", strings.Replace(okEnterprise, `"version":1201`, `"version":0`, 1), false},
		{"wrong id prefix", "Commitment", strings.Replace(okCommitment, `"cmt_000456"`, `"ent_000456"`, 1), false},
		{"null categories (a nil Go slice)", "Enterprise", strings.Replace(okEnterprise, `["household_appliances"]`, `null`, 1), false},
		{"bad time", "Enterprise", strings.Replace(okEnterprise, "2024-03-01T00:00:00+08:00", "2024-03-01", 1), false},
		{"http verify_url", "Enterprise", strings.Replace(okEnterprise, "https://verify", "http://verify", 1), false},
		{"missing zh", "Text", `{"en":"x"}`, false},
		// The either/or rules of ProductKey and BatchResult are stated in
		// their descriptions and enforced by the server (the sandbox's
		// contract test checks every answer for them), not by a oneOf that
		// code generators reject; the schema checks each field alone.
		{"key with both forms (the server's rule, not the schema's)", "ProductKey", `{"gtin":"06901234567892","uscc":"91440300MA5F000A1L","brand":"b"}`, true},
		{"key with neither form (the server's rule, not the schema's)", "ProductKey", `{"model":"m"}`, true},
		{"key with a 13-digit GTIN", "ProductKey", `{"gtin":"6901234567892"}`, false},
		{"key with a bad USCC", "ProductKey", `{"uscc":"91440300ma5f000a1l","brand":"b"}`, false},
		{"key with an empty brand", "ProductKey", `{"uscc":"91440300MA5F000A1L","brand":""}`, false},
		{"batch result with a status", "BatchResult", `{"key":{"gtin":"6901234567892"},"as_of":1840,"status":` + status(false, "") + `}`, true},
		{"batch result with a problem", "BatchResult", `{"key":{"gtin":"123"},"as_of":1840,"error":{"type":"about:blank","title":"Invalid GTIN","status":400,"code":"invalid_gtin"}}`, true},
		{"batch result with neither (the server's rule, not the schema's)", "BatchResult", `{"key":{"gtin":"123"},"as_of":1840}`, true},
		{"batch result without as_of", "BatchResult", `{"key":{"gtin":"123"},"error":{"type":"about:blank","title":"Invalid GTIN","status":400,"code":"invalid_gtin"}}`, false},
		{"event without seq", "Event", `{"id":"evt_1","cursor":"c1","type":"report.updated","occurred_at":"2024-06-01T00:00:00Z"}`, false},
		{"batch result with a bad status", "BatchResult", `{"key":{"gtin":"123"},"as_of":1840,"status":{"listed":true}}`, false},
		{"enterprise ref by id", "EnterpriseRef", `"ent_000123"`, true},
		{"enterprise ref by USCC", "EnterpriseRef", `"91440300MA5F000A1L"`, true},
		{"enterprise ref, lower-case USCC", "EnterpriseRef", `"91440300ma5f000a1l"`, false},
		{"enterprise ref, other prefix", "EnterpriseRef", `"cmt_000456"`, false},
		{"enterprise ref, bare prefix", "EnterpriseRef", `"ent_"`, false},
		{"enterprise ref, 17 characters", "EnterpriseRef", `"91440300MA5F000A1"`, false},
		{"change page without next_cursor", "ChangePage", `{"data":[],"has_more":false}`, false},
		{"empty change page", "ChangePage", `{"data":[],"next_cursor":"c9","has_more":false}`, true},
		{"list without data", "EnterpriseList", `{"next_cursor":"x"}`, false},
		{"101 keys", "BatchRequest", `{"keys":[` + strings.TrimSuffix(strings.Repeat(`{"gtin":"6901234567892"},`, 101), ",") + `]}`, false},
		{"report params", "ReportParams", `{"product":{"gtin":"69012341"},"kind":"counterfeit","listing_url":"https://shop.example/item/1","platform":"Example Mall","description":"假冒"}`, true},
	}
	for _, c := range cases {
		err := validate(doc, c.schema, c.instance)
		if c.ok && err != nil {
			t.Errorf("%s: rejected: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// sampleRequests are requests the router must map to an operation.
var sampleRequests = []struct {
	method, target, operationID string
	vars                        map[string]string
}{
	{"GET", "/v1/products/06901234567892", "getProductByGTIN", map[string]string{"gtin": "06901234567892"}},
	{"GET", "/v1/products/lookup?uscc=91440300MA5F000A1L&brand=x", "lookupProduct", nil},
	{"POST", "/v1/products/batch", "batchProducts", nil},
	{"GET", "/v1/enterprises?limit=5&region=4403", "listEnterprises", nil},
	{"GET", "/v1/enterprises/91440300MA5F000A1L", "getEnterprise", map[string]string{"id": "91440300MA5F000A1L"}},
	{"GET", "/v1/enterprises/ent_000123/commitments", "listEnterpriseCommitments", map[string]string{"id": "ent_000123"}},
	{"GET", "/v1/commitments/cmt_000456", "getCommitment", nil},
	{"GET", "/v1/inspections?result=fail", "listInspections", nil},
	{"GET", "/v1/inspections/ins_000789", "getInspection", nil},
	{"GET", "/v1/cases?brand=x", "listCases", nil},
	{"GET", "/v1/cases/case_000042", "getCase", nil},
	{"GET", "/v1/categories", "listCategories", nil},
	{"GET", "/v1/changes?after=abc&wait=30s", "listChanges", nil},
	{"GET", "/v1/changes?from=head", "listChanges", nil},
	{"POST", "/v1/reports", "createReport", nil},
	{"GET", "/v1/reports/rpt_01HZX3Q4", "getReport", nil},
	{"GET", "/v1/reports?status=closed&reporter_kind=rights_holder", "listReports", nil},
	{"POST", "/v1/reports/batch", "createClues", nil},
}

func TestRouters(t *testing.T) {
	builders := map[string]func(*openapi3.T) (routers.Router, error){
		"gorillamux": gorillamux.NewRouter,
		"legacy":     func(doc *openapi3.T) (routers.Router, error) { return legacy.NewRouter(doc) },
	}
	for name, build := range builders {
		t.Run(name, func(t *testing.T) {
			doc := loadSpec(t)
			router, err := build(doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sampleRequests {
				req := httptest.NewRequest(s.method, "http://127.0.0.1:8080"+s.target, nil)
				rt, vars, err := router.FindRoute(req)
				if err != nil {
					t.Errorf("%s %s: %v", s.method, s.target, err)
					continue
				}
				if rt.Operation.OperationID != s.operationID {
					t.Errorf("%s %s: routed to %s, want %s", s.method, s.target, rt.Operation.OperationID, s.operationID)
				}
				for k, v := range s.vars {
					if vars[k] != v {
						t.Errorf("%s %s: %s = %q, want %q", s.method, s.target, k, vars[k], v)
					}
				}
			}
			misses := []struct {
				method, target string
				want           error
			}{
				{"GET", "/v1/nope", routers.ErrPathNotFound},
				{"DELETE", "/v1/reports", routers.ErrMethodNotAllowed},
			}
			if name == "gorillamux" {
				// The legacy router does not rank a literal segment above a
				// template, so it reads "batch" as a {gtin}; gorillamux
				// tries literal paths first, as OpenAPI says to.
				misses = append(misses, struct {
					method, target string
					want           error
				}{"GET", "/v1/products/batch", routers.ErrMethodNotAllowed})
			}
			for _, s := range misses {
				req := httptest.NewRequest(s.method, "http://127.0.0.1:8080"+s.target, nil)
				// The legacy router returns fresh RouteErrors with the
				// sentinels' text rather than the sentinels themselves.
				if _, _, err := router.FindRoute(req); err == nil || err.Error() != s.want.Error() {
					t.Errorf("%s %s: err = %v, want %v", s.method, s.target, err, s.want)
				}
			}
		})
	}

	// A test server listens on a random port, which the sandbox server entry
	// does not match; dropping the servers makes the router match any host.
	doc := loadSpec(t)
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:54321/v1/categories", nil)
	if _, _, err := router.FindRoute(req); err != nil {
		t.Errorf("with servers dropped, a random port does not route: %v", err)
	}
}

// TestValidateExchange runs requests through a canned handler and checks
// them the way the sandbox's contract tests will: route, validate the
// request, validate the response, headers included.
func TestValidateExchange(t *testing.T) {
	doc := loadSpec(t)
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	notListed := `{"key":{"gtin":"06930000000011"},"listed":false,"version":0}`
	problem := `{"type":"about:blank","title":"Unavailable","status":503,"code":"unavailable"}`
	common := map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "30", "X-Request-Id": "req_1"}
	cases := []struct {
		name    string
		target  string
		status  int
		ctype   string
		headers map[string]string
		body    string
		ok      bool
	}{
		{"200", "/v1/products/6930000000011", 200, "application/json", map[string]string{"ETag": `"v0"`, "Cache-Control": "public, max-age=300", "QC-As-Of": "1840"}, notListed, true},
		{"200 without QC-As-Of", "/v1/products/6930000000011", 200, "application/json", map[string]string{"ETag": `"v0"`, "Cache-Control": "public, max-age=300"}, notListed, false},
		{"200 with a negative QC-As-Of", "/v1/products/6930000000011", 200, "application/json", map[string]string{"ETag": `"v0"`, "Cache-Control": "public, max-age=300", "QC-As-Of": "-1"}, notListed, false},
		{"200 without ETag", "/v1/products/6930000000011", 200, "application/json", map[string]string{"QC-As-Of": "1840", "Cache-Control": "max-age=60"}, notListed, false},
		{"200 with a non-numeric rate header", "/v1/products/6930000000011", 200, "application/json", map[string]string{"ETag": `"v0"`, "QC-As-Of": "1840", "Cache-Control": "no-store", "RateLimit-Reset": "soon"}, notListed, false},
		{"200 as text/plain", "/v1/products/6930000000011", 200, "text/plain", map[string]string{"ETag": `"v0"`, "QC-As-Of": "1840", "Cache-Control": "no-store"}, notListed, false},
		{"503", "/v1/products/6930000000011", 503, "application/problem+json", map[string]string{"Retry-After": "5"}, problem, true},
		{"503 without Retry-After", "/v1/products/6930000000011", 503, "application/problem+json", nil, problem, false},
		{"503 as application/json", "/v1/products/6930000000011", 503, "application/json", map[string]string{"Retry-After": "5"}, problem, false},
		{"418 falls to default", "/v1/products/6930000000011", 418, "application/problem+json", nil, strings.Replace(problem, "503", "418", 1), true},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "http://127.0.0.1:54321"+c.target, nil)
		req.Header.Set("Authorization", "Bearer test")
		rt, vars, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		reqIn := &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: vars,
			Route:      rt,
			Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}
		if err := openapi3filter.ValidateRequest(context.Background(), reqIn); err != nil {
			t.Fatalf("%s: request rejected: %v", c.name, err)
		}
		h := http.Header{}
		h.Set("Content-Type", c.ctype)
		for k, v := range common {
			h.Set(k, v)
		}
		for k, v := range c.headers {
			h.Set(k, v)
		}
		err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: reqIn,
			Status:                 c.status,
			Header:                 h,
			Body:                   io.NopCloser(strings.NewReader(c.body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true},
		})
		if c.ok && err != nil {
			t.Errorf("%s: response rejected: %v", c.name, err)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: response accepted", c.name)
		}
	}

	// A malformed GTIN is a request the contract rejects.
	req := httptest.NewRequest("GET", "http://127.0.0.1:54321/v1/products/123", nil)
	req.Header.Set("Authorization", "Bearer test")
	rt, vars, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: vars, Route: rt,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
	if err == nil {
		t.Error("GET /v1/products/123 passed request validation")
	}
}

// TestChangeFeedStartAndRetention checks the change feed documents where a
// read without a cursor starts, that a cursor can expire, and what a
// consumer does then.
func TestChangeFeedStartAndRetention(t *testing.T) {
	doc := loadSpec(t)
	op := doc.Paths.Value("/v1/changes").Get
	from := op.Parameters.GetByInAndName(openapi3.ParameterInQuery, "from")
	if from == nil {
		t.Fatal("GET /v1/changes has no from parameter")
	}
	if from.Required {
		t.Error("from is required; omitting it must read from the start")
	}
	s := from.Schema.Value
	if s.Default != "start" {
		t.Errorf("from defaults to %v, want start", s.Default)
	}
	if !slices.Contains(s.Examples, any("start")) || !slices.Contains(s.Examples, any("head")) {
		t.Errorf("from lists known values %v, want start and head", s.Examples)
	}
	for _, want := range []string{"`after`", "`400 invalid_parameter`", "`next_cursor`"} {
		if !strings.Contains(from.Description, want) {
			t.Errorf("from's description does not mention %s", want)
		}
	}
	for _, want := range []string{"retention", "expired", "`400 invalid_cursor`", "stale", "`from=head`"} {
		if !strings.Contains(op.Description, want) {
			t.Errorf("GET /v1/changes's description does not mention %q", want)
		}
	}

	// The 400 shows an expired cursor, with the field that expired.
	ex := doc.Components.Responses["BadRequest"].Value.Content.Get("application/problem+json").Examples["expiredCursor"]
	if ex == nil {
		t.Fatal("components.responses.BadRequest has no expiredCursor example")
	}
	b, err := json.Marshal(ex.Value.Value)
	if err != nil {
		t.Fatal(err)
	}
	var p client.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != client.CodeInvalidCursor || len(p.Errors) != 1 || p.Errors[0].Field != "after" || !strings.Contains(p.Errors[0].Message, "expired") {
		t.Errorf("expiredCursor example %+v, want invalid_cursor with an errors entry saying after expired", p)
	}

	// from=head is a request the contract accepts.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:54321/v1/changes?from=head", nil)
	req.Header.Set("Authorization", "Bearer test")
	rt, vars, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: vars, Route: rt,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}); err != nil {
		t.Errorf("GET /v1/changes?from=head: %v", err)
	}
}

// TestSchemaExamples validates every schema-level `examples` entry against
// its schema; doc.Validate checks media-type examples but not these.
func TestSchemaExamples(t *testing.T) {
	doc := loadSpec(t)
	check := func(path string, s *openapi3.Schema) {
		for _, e := range s.Examples {
			if err := s.VisitJSON(e, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("%s: example %v does not match: %v", path, e, err)
			}
		}
	}
	seen := map[*openapi3.Schema]bool{}
	for name, s := range doc.Components.Schemas {
		walkSchema(s, name, seen, check)
	}
	for name, p := range doc.Components.Parameters {
		walkSchema(p.Value.Schema, "parameter "+name, seen, check)
	}
	for name, h := range doc.Components.Headers {
		walkSchema(h.Value.Schema, "header "+name, seen, check)
	}
	for _, r := range operations(doc) {
		for _, p := range doc.Paths.Value(r.path).GetOperation(r.method).Parameters {
			walkSchema(p.Value.Schema, r.method+" "+r.path+" "+p.Value.Name, seen, check)
		}
	}
	for _, p := range doc.Webhooks["changeEvent"].Post.Parameters {
		walkSchema(p.Value.Schema, "webhook "+p.Value.Name, seen, check)
	}
}

// TestBodyExamples: every request body and every answer with a body
// carries an example, each example matches its schema, and a problem
// example has the status of its answer and a type the server sends.
func TestBodyExamples(t *testing.T) {
	doc := loadSpec(t)
	check := func(where, status string, content openapi3.Content) {
		if len(content) == 0 {
			return
		}
		for mt, m := range content {
			var values []any
			if m.Example != nil {
				values = append(values, m.Example)
			}
			for _, e := range m.Examples {
				values = append(values, e.Value.Value)
			}
			if len(values) == 0 {
				t.Errorf("%s %s: no example", where, mt)
			}
			for _, v := range values {
				opts := []openapi3.SchemaValidationOption{openapi3.EnableJSONSchema2020()}
				if status != "" {
					opts = append(opts, openapi3.VisitAsResponse())
				} else {
					opts = append(opts, openapi3.VisitAsRequest())
				}
				if err := m.Schema.Value.VisitJSON(v, opts...); err != nil {
					t.Errorf("%s %s: example does not match the schema: %v", where, mt, err)
				}
				if mt != "application/problem+json" {
					continue
				}
				p, _ := v.(map[string]any)
				if typ, _ := p["type"].(string); typ != "about:blank" && !strings.HasPrefix(typ, sandbox.ProblemTypeBase) {
					t.Errorf("%s: example problem type %q, the server's are %s<code>", where, typ, sandbox.ProblemTypeBase)
				} else if code, _ := p["code"].(string); typ != "about:blank" && typ != sandbox.ProblemTypeBase+code {
					t.Errorf("%s: example problem type %q for code %q", where, typ, code)
				}
				if st, err := strconv.Atoi(status); err == nil && p["status"] != float64(st) {
					t.Errorf("%s: example problem status %v", where, p["status"])
				}
			}
		}
	}
	for name, r := range doc.Components.Responses {
		check("components.responses."+name, problemStatus(name), r.Value.Content)
	}
	for _, r := range operations(doc) {
		op := doc.Paths.Value(r.path).GetOperation(r.method)
		where := r.method + " " + r.path
		if op.RequestBody != nil {
			check(where+" request", "", op.RequestBody.Value.Content)
		}
		for status, ref := range op.Responses.Map() {
			if ref.Ref == "" {
				check(where+" "+status, status, ref.Value.Content)
			}
		}
	}
	hook := doc.Webhooks["changeEvent"].Post
	check("webhook changeEvent request", "", hook.RequestBody.Value.Content)
}

// problemStatus is the status a problem component response documents, or
// "" for one that documents several.
func problemStatus(name string) string {
	for status, n := range problemResponses {
		if n == name {
			return status
		}
	}
	return ""
}

// models maps each object schema to the Go type in package client whose
// JSON encoding it describes.
var models = map[string]reflect.Type{
	"Text":            reflect.TypeFor[client.Text](),
	"Category":        reflect.TypeFor[client.Category](),
	"Enterprise":      reflect.TypeFor[client.Enterprise](),
	"Scope":           reflect.TypeFor[client.Scope](),
	"CommitmentItem":  reflect.TypeFor[client.CommitmentItem](),
	"Commitment":      reflect.TypeFor[client.Commitment](),
	"SampledProduct":  reflect.TypeFor[client.SampledProduct](),
	"FailedItem":      reflect.TypeFor[client.FailedItem](),
	"Rectification":   reflect.TypeFor[client.Rectification](),
	"Inspection":      reflect.TypeFor[client.Inspection](),
	"Case":            reflect.TypeFor[client.Case](),
	"ProductKey":      reflect.TypeFor[client.ProductKey](),
	"ProductKeyInput": reflect.TypeFor[client.ProductKey](),
	"Product":         reflect.TypeFor[client.Product](),
	"ProductStatus":   reflect.TypeFor[client.ProductStatus](),
	"Event":           reflect.TypeFor[client.Event](),
	"ReportParams":    reflect.TypeFor[client.ReportParams](),
	"Report":          reflect.TypeFor[client.Report](),
	"ReportStep":      reflect.TypeFor[client.ReportStep](),
	"ReportChange":    reflect.TypeFor[client.ReportChange](),
	"ReportList":      reflect.TypeFor[client.List[client.Report]](),
	"ClueCounts":      reflect.TypeFor[client.ClueCounts](),
	"ClueInput":       reflect.TypeFor[client.ClueParams](),
	"ClueBatch":       reflect.TypeFor[client.ClueBatch](),
	"ClueResult":      reflect.TypeFor[client.ClueResult](),
	// The client reads a clue batch's answer into a one-field envelope.
	"ClueBatchResponse": reflect.TypeFor[struct {
		Results []client.ClueResult `json:"results"`
	}](),
	"Problem":          reflect.TypeFor[client.Problem](),
	"ProblemField":     reflect.TypeFor[client.ProblemField](),
	"BatchRequest":     reflect.TypeFor[client.BatchRequest](),
	"BatchResult":      reflect.TypeFor[client.BatchResult](),
	"EnterpriseList":   reflect.TypeFor[client.List[client.Enterprise]](),
	"CommitmentList":   reflect.TypeFor[client.List[client.Commitment]](),
	"InspectionList":   reflect.TypeFor[client.List[client.Inspection]](),
	"CaseList":         reflect.TypeFor[client.List[client.Case]](),
	"CategoryList":     reflect.TypeFor[client.List[client.Category]](),
	"ChangePage":       reflect.TypeFor[client.ChangePage](),
	"InclusionProof":   reflect.TypeFor[client.InclusionProof](),
	"ConsistencyProof": reflect.TypeFor[client.ConsistencyProof](),
	"LogKey":           reflect.TypeFor[client.LogKey](),
	// The client reads the keys into a one-field envelope.
	"LogKeyList": reflect.TypeFor[struct {
		Data []client.LogKey `json:"data"`
	}](),
	"BatchResponse": reflect.TypeFor[client.BatchResponse](),
	"StatusProof":   reflect.TypeFor[client.StatusProof](),
	"RecordProof":   reflect.TypeFor[client.RecordProof](),
}

// jsonField is one JSON property of a Go struct.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		// Either option leaves the property out of some answers.
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		out = append(out, jsonField{
			name:      name,
			omitempty: optional,
			typ:       f.Type,
		})
	}
	return out
}

// TestSchemasMatchModels checks, for every model, that the schema's
// properties are exactly the struct's JSON fields, that `required` is
// exactly its fields without omitempty, and that each property's type is
// what encoding/json writes for the field.
func TestSchemasMatchModels(t *testing.T) {
	doc := loadSpec(t)
	for name, s := range doc.Components.Schemas {
		if s.Value.Type.Is("object") && models[name] == nil {
			t.Errorf("object schema %s is not mapped to a Go type in models", name)
		}
	}
	for name, goType := range models {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Errorf("components.schemas.%s is missing", name)
			continue
		}
		s := ref.Value
		if !s.Type.Is("object") {
			t.Errorf("%s: type is %v, want object", name, s.Type)
		}
		fields := jsonFields(goType)
		var goNames, goRequired []string
		for _, f := range fields {
			goNames = append(goNames, f.name)
			if !f.omitempty {
				goRequired = append(goRequired, f.name)
			}
		}
		var specNames []string
		for p := range s.Properties {
			specNames = append(specNames, p)
		}
		specRequired := slices.Clone(s.Required)
		// ProductKeyInput is the lax form a caller sends: nothing required.
		if name == "ProductKeyInput" {
			goRequired = nil
		}
		for _, l := range [][]string{goNames, goRequired, specNames, specRequired} {
			slices.Sort(l)
		}
		if !slices.Equal(goNames, specNames) {
			t.Errorf("%s: properties %v, %v has JSON fields %v", name, specNames, goType, goNames)
		}
		if !slices.Equal(goRequired, specRequired) {
			t.Errorf("%s: required %v, %v has non-omitempty fields %v", name, specRequired, goType, goRequired)
		}
		for _, f := range fields {
			if p := s.Properties[f.name]; p != nil {
				checkType(t, name+"."+f.name, p, f.typ)
			}
		}
	}
}

var timeType = reflect.TypeFor[time.Time]()

// checkType checks that schema describes what encoding/json writes for a
// value of type typ.
func checkType(t *testing.T, where string, schema *openapi3.SchemaRef, typ reflect.Type) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s := schema.Value
	switch {
	case typ == timeType:
		if !s.Type.Is("string") || s.Format != "date-time" {
			t.Errorf("%s: a time.Time is a date-time string, schema has type %v format %q", where, s.Type, s.Format)
		}
	case typ == reflect.TypeFor[client.LogHash]():
		// 32 bytes in Go, the base64 of them in JSON (its MarshalJSON).
		if !s.Type.Is("string") || schemaRefName(schema) != "LogHash" {
			t.Errorf("%s: a client.LogHash is the LogHash string, schema has type %v (%q)", where, s.Type, schema.Ref)
		}
	case typ.Kind() == reflect.String:
		if !s.Type.Is("string") {
			t.Errorf("%s: %v is a string, schema has type %v", where, typ, s.Type)
		}
	case typ.Kind() == reflect.Bool:
		if !s.Type.Is("boolean") {
			t.Errorf("%s: %v is a boolean, schema has type %v", where, typ, s.Type)
		}
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		if !s.Type.Is("integer") {
			t.Errorf("%s: %v is an integer, schema has type %v", where, typ, s.Type)
		}
		if typ.Kind() == reflect.Int64 && s.Format != "int64" {
			t.Errorf("%s: %v wants format int64, schema has %q", where, typ, s.Format)
		}
	case typ.Kind() == reflect.Slice:
		if !s.Type.Is("array") || s.Items == nil {
			t.Errorf("%s: %v is an array, schema has type %v", where, typ, s.Type)
			return
		}
		checkType(t, where+"[]", s.Items, typ.Elem())
	case typ.Kind() == reflect.Struct:
		name := schemaRefName(schema)
		if models[name] != typ {
			t.Errorf("%s: %v, but the schema is %q (%v)", where, typ, schema.Ref, models[name])
		}
	default:
		t.Errorf("%s: no rule for Go kind %v", where, typ.Kind())
	}
}
