package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// webhooks pushes every event, in order, to each registered URL, retrying
// with a doubling wait. One goroutine per URL; all stop on close.
type webhooks struct {
	attempts int
	backoff  time.Duration
	logger   *slog.Logger
	http     *http.Client
	clock    func() time.Time

	mu        sync.Mutex
	endpoints []*endpoint
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	delivered atomic.Int64
	failed    atomic.Int64
}

type endpoint struct {
	url     string
	secrets []string
	owner   string // the API key whose report events it also receives
	mu      sync.Mutex
	pending []client.Event
	wake    chan struct{}
}

func newWebhooks(attempts int, backoff time.Duration, logger *slog.Logger) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhooks{
		attempts: attempts,
		backoff:  backoff,
		logger:   logger,
		http:     &http.Client{Timeout: 10 * time.Second},
		clock:    time.Now,
		ctx:      ctx,
		cancel:   cancel,
	}
}

func (w *webhooks) add(url string, secrets []string, owner string) {
	ep := &endpoint{url: url, secrets: append([]string(nil), secrets...), owner: owner, wake: make(chan struct{}, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	w.endpoints = append(w.endpoints, ep)
	w.wg.Add(1)
	go w.run(ep)
}

// enqueue is called with the registry's lock held: it must not block. A
// report event goes only to the endpoints of the API key that filed it.
func (w *webhooks) enqueue(ev client.Event, owner string) {
	w.mu.Lock()
	eps := w.endpoints
	w.mu.Unlock()
	for _, ep := range eps {
		if !visibleTo(owner, ep.owner) {
			continue
		}
		ep.mu.Lock()
		ep.pending = append(ep.pending, ev)
		ep.mu.Unlock()
		select {
		case ep.wake <- struct{}{}:
		default:
		}
	}
}

func (w *webhooks) close() {
	w.mu.Lock()
	w.cancel()
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *webhooks) run(ep *endpoint) {
	defer w.wg.Done()
	for {
		ep.mu.Lock()
		batch := ep.pending
		ep.pending = nil
		ep.mu.Unlock()
		for _, ev := range batch {
			if !w.deliver(ep, ev) && w.ctx.Err() != nil {
				return
			}
		}
		select {
		case <-ep.wake:
		case <-w.ctx.Done():
			return
		}
	}
}

// deliver pushes one event, trying up to w.attempts times. It reports
// whether the receiver took it.
func (w *webhooks) deliver(ep *endpoint, ev client.Event) bool {
	body, err := json.Marshal(ev)
	if err != nil {
		return false
	}
	wait := w.backoff
	for try := 1; try <= w.attempts; try++ {
		if w.post(ep, ev.ID, body) {
			w.delivered.Add(1)
			return true
		}
		w.failed.Add(1)
		if try == w.attempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			return false
		}
		wait *= 2
	}
	if w.logger != nil {
		w.logger.Warn("sandbox webhook push gave up", "url", ep.url, "event", ev.ID, "tries", w.attempts)
	}
	return false
}

func (w *webhooks) post(ep *endpoint, id string, body []byte) bool {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "qcsandbox-webhook/1")
	req.Header.Set(client.EventIDHeader, id)
	req.Header.Set(client.SignatureHeader, client.SignWebhook(body, w.clock(), ep.secrets...))
	resp, err := w.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
