// ClueBatchTest files a rights holder's clues through the registry API the
// way a brand owner's system written in Java would: with nothing but the
// JDK (java.net.http), run as a single file:
//
//   java ClueBatchTest.java http://127.0.0.1:PORT API_KEY
//
// The first argument is the registry's base URL (a sandbox, whose
// operator API moves a report on), the second the platform's API key. It
// exits 0 when every check holds, and 1 with the first that does not.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class ClueBatchTest {
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static String base, key;

    record Response(int code, String body) {}

    static Response send(HttpRequest.Builder b) throws Exception {
        HttpResponse<String> r = http.send(b.timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        return new Response(r.statusCode(), r.body());
    }

    static Response get(String path, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).header("Authorization", "Bearer " + key);
        if (token != null) b.header("Report-Token", token);
        return send(b.GET());
    }

    static Response post(String path, String json) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(base + path))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8)));
    }

    static void check(boolean ok, String what) {
        check(ok, what, "");
    }

    // check says what held; detail (an answer's body) is printed only when
    // it does not.
    static void check(boolean ok, String what, String detail) {
        if (!ok) {
            System.err.println("FAIL: " + what + (detail.isEmpty() ? "" : "\n" + detail));
            System.exit(1);
        }
        System.out.println("ok: " + what);
    }

    static String clue(String key, String gtin, String evidence) {
        return "{\"idempotency_key\":\"" + key + "\",\"product\":{\"gtin\":\"" + gtin + "\"},\"kind\":\"counterfeit\","
                + "\"listing_ids\":[\"item-" + key + "\"],\"evidence_urls\":[\"" + evidence + "\"],"
                + "\"description\":\"假冒注册商标的围巾，见鉴定报告。\"}";
    }

    static String batch(List<String> clues) {
        return "{\"rights_holder\":\"示例品牌管理有限公司\",\"platform\":\"Example Mall\","
                + "\"evidence_hosts\":[\"evidence.example.com\"],\"clues\":[" + String.join(",", clues) + "]}";
    }

    // results lists each result object's status, report id and token (or
    // the problem's code and field), in order.
    static List<String[]> results(String body) {
        List<String[]> out = new ArrayList<>();
        Matcher m = Pattern.compile("\\{\"index\":(\\d+),\"status\":\"(\\w+)\"(.*?)(?=,\\{\"index\":|\\]\\}$)").matcher(body);
        while (m.find()) {
            String rest = m.group(3);
            out.add(new String[] {m.group(1), m.group(2), find(rest, "\"id\":\"(rpt_\\w+)\""), find(rest, "\"access_token\":\"([\\w-]+)\""),
                    find(rest, "\"code\":\"(\\w+)\""), find(rest, "\"field\":\"([^\"]+)\"")});
        }
        return out;
    }

    static String find(String s, String re) {
        Matcher m = Pattern.compile(re).matcher(s);
        return m.find() ? m.group(1) : "";
    }

    public static void main(String[] args) throws Exception {
        base = args[0].replaceAll("/$", "");
        key = args[1];
        String gtin = find(get("/_sandbox/demo", null).body, "\"gtin\":\"(\\d+)\"");
        check(!gtin.isEmpty(), "a demo product to report: " + gtin);

        // Three clues; the second's evidence link is not https.
        List<String> clues = List.of(
                clue("lv-2024-0117", gtin, "https://evidence.example.com/0117.pdf"),
                clue("lv-2024-0118", gtin, "http://evidence.example.com/0118.pdf"),
                clue("lv-2024-0119", gtin, "https://evidence.example.com/0119.pdf"));
        Response first = post("/v1/reports/batch", batch(clues));
        check(first.code == 200, "the batch is answered 200", first.code + " " + first.body);
        List<String[]> r = results(first.body);
        check(r.size() == 3, "one result per clue: " + r.size());
        check(r.get(0)[1].equals("created") && r.get(0)[2].startsWith("rpt_") && r.get(0)[3].length() >= 22, "clue 0 filed with a token");
        check(r.get(1)[1].equals("failed") && r.get(1)[4].equals("invalid_body") && r.get(1)[5].equals("/evidence_urls/0"),
                "clue 1 failed, naming its evidence link", String.join(" ", r.get(1)));
        check(r.get(2)[1].equals("created") && !r.get(2)[2].equals(r.get(0)[2]), "clue 2 filed all the same");

        // Sent again (a retry after a timeout): nothing is filed twice.
        List<String[]> again = results(post("/v1/reports/batch", batch(clues)).body);
        check(again.get(0)[1].equals("replayed") && again.get(0)[2].equals(r.get(0)[2]), "a resent clue is the same report");

        // The same key twice in one batch.
        List<String[]> dup = results(post("/v1/reports/batch", batch(List.of(clues.get(0), clues.get(0)))).body);
        check(dup.get(1)[1].equals("failed") && dup.get(1)[4].equals("duplicate_in_batch"), "a duplicate clue in one batch fails alone");

        // Each clue's lifecycle, for whoever holds its token.
        String id = r.get(0)[2], token = r.get(0)[3];
        Response mine = get("/v1/reports/" + id, token);
        check(mine.code == 200 && mine.body.contains("\"reporter_kind\":\"rights_holder\"") && mine.body.contains("\"status\":\"received\""),
                "the clue reads as a rights holder's report, received", mine.body);
        check(!mine.body.contains(token), "a read does not show the token again");
        Response wrong = get("/v1/reports/" + id, r.get(2)[3]);
        Response unknown = get("/v1/reports/rpt_99999999", r.get(2)[3]);
        check(wrong.code == 404 && unknown.code == 404 && find(wrong.body, "\"detail\":\"([^\"]*)\"").equals(find(unknown.body, "\"detail\":\"([^\"]*)\"")),
                "another clue's token is the same 404 as an unknown id");

        Response moved = post("/_sandbox/reports/" + id + "/advance", "{}");
        check(moved.code == 200, "the sandbox forwards it", moved.body);
        Response fwd = get("/v1/reports/" + id, token);
        check(fwd.body.contains("\"status\":\"forwarded\"") && fwd.body.contains("\"authority\":{"), "forwarded, to a named authority", fwd.body);

        // The platform's own list, by kind and status.
        Response list = get("/v1/reports?reporter_kind=rights_holder&status=received", null);
        check(list.code == 200 && list.body.contains(r.get(2)[2]) && !list.body.contains("\"id\":\"" + id + "\"") && !list.body.contains("access_token"),
                "the platform lists its received rights-holder reports, without tokens", list.body);

        // More than 100 clues is refused whole.
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 101; i++) many.add(clue("bulk-" + i, gtin, "https://evidence.example.com/" + i));
        Response tooMany = post("/v1/reports/batch", batch(many));
        check(tooMany.code == 400 && tooMany.body.contains("\"code\":\"too_many_keys\""), "101 clues refused", tooMany.code + " " + tooMany.body);
        System.out.println("all checks hold");
    }
}
