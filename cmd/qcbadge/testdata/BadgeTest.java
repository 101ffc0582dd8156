// BadgeTest drives qcbadge the way a Java platform would: with nothing but
// the JDK (java.net.http), run as a single file:
//
//   java BadgeTest.java http://127.0.0.1:8080/quality/ http://127.0.0.1:PORT
//
// The first argument is qcbadge's prefix URL, the second its embedded
// sandbox's (whose operator API publishes a revocation). It exits 0 when
// every check holds, and 1 with the first that does not.

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class BadgeTest {
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static String badges, root, sandbox;

    public static void main(String[] args) throws Exception {
        badges = args[0];
        root = badges.replaceFirst("^(https?://[^/]+)/.*$", "$1");
        sandbox = args[1];

        // Ready: the registry answers and the follower has caught up.
        Response ready = until(Duration.ofSeconds(30), () -> get(root + "/readyz"), r -> r.code == 200, "qcbadge ready");
        check(ready.body.contains("\"ready\":true") && ready.body.contains("\"follower\":{\"ok\":true,\"reason\":\"caught up\"}"), "the follower is caught up: " + ready.body);
        check(get(root + "/healthz").body.contains("alive"), "healthz says alive");

        // A listing page's badges in one call.
        Response demo = get(sandbox + "/_sandbox/demo");
        List<String> gtins = new ArrayList<>();
        String committed = null;
        Matcher m = Pattern.compile("\"gtin\":\"(\\d+)\"[^}]*?\"verdict\":\"(\\w+)\"").matcher(demo.body);
        while (m.find()) {
            gtins.add(m.group(1));
            if (committed == null && m.group(2).equals("committed")) committed = m.group(1);
        }
        check(gtins.size() >= 5 && committed != null, "the sandbox's demo products: " + gtins);
        StringBuilder q = new StringBuilder("badges?locale=en");
        for (String g : gtins) q.append("&gtin=").append(URLEncoder.encode(g, StandardCharsets.UTF_8));
        final String listing = badges + q;
        Response page = until(Duration.ofSeconds(10), () -> get(listing), r -> r.code == 200 && r.body.contains("qcb-committed"), "a listing with its committed badge");
        check(count(page.body, "\"gtin\":") == gtins.size(), "one badge per product asked");
        check(page.body.contains("application/ld+json"), "JSON-LD with the badges");
        check(page.header("cache-control").equals("no-store"), "the batch is not cached");

        // Refusals say what is wrong.
        Response tooMany = get(badges + "badges?" + "gtin=06910000100003&".repeat(101));
        check(tooMany.code == 400 && tooMany.body.contains("at most 100"), "101 GTINs refused: " + tooMany.code + " " + tooMany.body);
        Response bad = get(badges + "badges?gtin=123");
        check(bad.code == 400 && bad.body.contains("\"reason\":\"length\""), "a malformed GTIN named: " + bad.body);

        // Metrics count what was served.
        Response metrics = get(root + "/metrics");
        check(metrics.code == 200 && metrics.body.contains("qcbadge_cache_lookups_total{outcome=\"hit\"}")
                && metrics.body.contains("qcbadge_request_duration_seconds_count{code=\"200\",route=\"badges\"}"), "metrics");

        // The regulator revokes the commitment: the badge changes once the
        // follower applies it.
        Response product = get(sandbox + "/v1/products/" + committed);
        Matcher cm = Pattern.compile("\"commitment\":\\{\"id\":\"([^\"]+)\"").matcher(product.body);
        check(cm.find(), "the committed product's commitment: " + product.body);
        Response revoked = send(HttpRequest.newBuilder(URI.create(sandbox + "/_sandbox/commitments/" + cm.group(1) + "/status"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"status\":\"revoked\"}")));
        check(revoked.code == 200, "revoked: " + revoked.code + " " + revoked.body);
        final String one = badges + "badges?gtin=" + committed;
        until(Duration.ofSeconds(20), () -> get(one), r -> r.body.contains("qcb-withdrawn"), "the revoked product's badge withdrawn");

        System.out.println("ok: qcbadge from Java");
    }

    record Response(int code, String body, java.net.http.HttpHeaders headers) {
        String header(String name) { return headers.firstValue(name).orElse(""); }
    }

    interface Call { Response call() throws Exception; }

    interface Test { boolean holds(Response r); }

    static Response get(String url) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer test").GET());
    }

    static Response send(HttpRequest.Builder b) throws Exception {
        HttpResponse<String> r = http.send(b.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return new Response(r.statusCode(), r.body(), r.headers());
    }

    // until polls call until test holds, or fails after within.
    static Response until(Duration within, Call call, Test test, String what) throws Exception {
        Instant deadline = Instant.now().plus(within);
        Response last = null;
        while (Instant.now().isBefore(deadline)) {
            last = call.call();
            if (test.holds(last)) return last;
            Thread.sleep(50);
        }
        fail(what + ": not within " + within + "; last " + (last == null ? "none" : last.code + " " + last.body));
        return null;
    }

    static int count(String s, String sub) {
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
        return n;
    }

    static void check(boolean ok, String what) {
        if (!ok) fail(what);
    }

    static void fail(String what) {
        System.err.println("FAIL: " + what);
        System.exit(1);
    }
}
