package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

func ExampleWebhookVerifier() {
	// What the registry sends: a JSON event, signed at a moment.
	body := []byte(`{"id":"evt_0042","cursor":"c_42","type":"commitment.revoked","occurred_at":"2025-01-01T00:00:00Z","commitment":{"id":"cmt_8f2k","status":"revoked"}}`)
	signedAt := time.Date(2025, 1, 1, 0, 0, 5, 0, time.UTC)
	header := client.SignWebhook(body, signedAt, "whsec_live")

	// The receiver, whose clock reads a minute later.
	v := client.WebhookVerifier{
		Secrets: []string{"whsec_live"},
		Now:     func() time.Time { return signedAt.Add(time.Minute) },
	}
	ev, err := v.Verify(body, header)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Type, ev.Commitment.ID, ev.Commitment.Status)

	// The same push replayed an hour later.
	v.Now = func() time.Time { return signedAt.Add(time.Hour) }
	_, err = v.Verify(body, header)
	fmt.Println(errors.Is(err, client.ErrWebhookTooOld))

	// A push with a forged body.
	v.Now = func() time.Time { return signedAt }
	_, err = v.Verify([]byte(strings.Replace(string(body), "revoked", "active", 2)), header)
	fmt.Println(err)
	// Output:
	// commitment.revoked cmt_8f2k revoked
	// true
	// qcsdk: no webhook signature matches: 1 signature(s), 1 secret(s)
}

// While a secret is rotated the registry signs every push with the old and
// the new secret. A receiver that knows either accepts it, so receivers
// can switch over one by one.
func ExampleWebhookVerifier_rotation() {
	body := []byte(`{"id":"evt_0043","type":"inspection.published"}`)
	signedAt := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	header := client.SignWebhook(body, signedAt, "whsec_old", "whsec_new")
	fmt.Println(header[:strings.Index(header, ",")], strings.Count(header, "v1="), "signatures")

	for _, secrets := range [][]string{
		{"whsec_old"},              // not yet switched
		{"whsec_old", "whsec_new"}, // switching
		{"whsec_new"},              // switched
		{"whsec_other"},            // wrong
	} {
		v := client.WebhookVerifier{Secrets: secrets, Now: func() time.Time { return signedAt }}
		ev, err := v.Verify(body, header)
		fmt.Printf("%v: %s %v\n", secrets, ev.ID, err)
	}
	// Output:
	// t=1735689600 2 signatures
	// [whsec_old]: evt_0043 <nil>
	// [whsec_old whsec_new]: evt_0043 <nil>
	// [whsec_new]: evt_0043 <nil>
	// [whsec_other]:  qcsdk: no webhook signature matches: 2 signature(s), 1 secret(s)
}

func ExampleVerifyWebhook() {
	body := []byte(`{"id":"evt_0044","type":"case.published"}`)
	header := client.SignWebhook(body, time.Now(), "whsec_live")

	ev, err := client.VerifyWebhook(body, header, "whsec_live")
	fmt.Println(ev.Type, err)

	_, err = client.VerifyWebhook(body, "", "whsec_live")
	fmt.Println(errors.Is(err, client.ErrWebhookNotSigned))
	// Output:
	// case.published <nil>
	// true
}

func ExampleWebhookHandler() {
	signedAt := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	v := client.WebhookVerifier{
		Secrets: []string{"whsec_live"},
		Now:     func() time.Time { return signedAt }, // a real receiver leaves Now nil
	}
	h := client.WebhookHandler(v, func(ctx context.Context, ev client.Event) error {
		// Apply the change idempotently: the same event may come twice.
		fmt.Println("applying", ev.ID, ev.Type)
		return nil
	})

	body := `{"id":"evt_0045","type":"commitment.updated"}`
	for _, header := range []string{
		client.SignWebhook([]byte(body), signedAt, "whsec_live"),
		client.SignWebhook([]byte(body), signedAt, "whsec_guess"),
	} {
		req := httptest.NewRequest(http.MethodPost, "/qc/webhook", strings.NewReader(body))
		req.Header.Set(client.SignatureHeader, header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Body.String())))
	}
	// Output:
	// applying evt_0045 commitment.updated
	// 204
	// 401 signature: no match
}
