package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Webhook push headers. The registry pushes each change event as a POST
// whose body is the JSON Event and whose SignatureHeader is
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]": one v1 per secret the receiver
// has (several while a secret is being rotated), each an HMAC-SHA256 over
// "<t>.<body>".
const (
	SignatureHeader = "QC-Signature"
	EventIDHeader   = "QC-Event-Id"
)

// SignWebhook returns the signature header value for a push of body at time
// t, with one signature per secret. Servers use it to push; tests use it to
// build pushes a receiver must accept.
func SignWebhook(body []byte, t time.Time, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	out := make([]byte, 0, len("t=")+len(ts)+len(secrets)*(len(",v1=")+2*sha256.Size))
	out = append(out, "t="...)
	out = append(out, ts...)
	for _, s := range secrets {
		out = append(out, ",v1="...)
		out = hex.AppendEncode(out, webhookMAC([]byte(s), ts, body))
	}
	return string(out)
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
