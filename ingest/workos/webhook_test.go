package workos_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

// The test vector of reference/workos-api.md §6.2.
const (
	vectorSecret = "whsec_fake_test_secret"
	vectorHeader = "t=1767225600000, v1=947fa6dcf17367faca35f3d60ec4462c189b7a664e542731db9bca227d40987d"
	vectorBody   = `{"id":"event_01JGXYZ0000000000000000000","event":"dsync.user.created","data":{"object":"directory_user","id":"directory_user_01JGXYZ0000000000000000001","directory_id":"directory_01JGXYZ0000000000000000002","organization_id":"org_01JGXYZ0000000000000000003","idp_id":"00u1abc","email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","state":"active","custom_attributes":{},"raw_attributes":{},"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z"},"created_at":"2026-01-01T00:00:00.000Z"}`
)

var vectorTime = time.UnixMilli(1767225600000)

func TestVerifySignature(t *testing.T) {
	if len(vectorBody) != 526 {
		t.Fatalf("vector body is %d bytes, want 526", len(vectorBody))
	}
	if got := workos.Sign(vectorSecret, vectorTime, []byte(vectorBody)); got != vectorHeader {
		t.Fatalf("Sign = %s, want the reference's %s", got, vectorHeader)
	}
	if got := workostest.Signature(vectorSecret, vectorTime, []byte(vectorBody)); got != vectorHeader {
		t.Fatalf("fake's Signature = %s, want %s", got, vectorHeader)
	}
	tampered := strings.Replace(vectorBody, `"Ada"`, `"Eve"`, 1)
	reserialized := strings.Replace(vectorBody, `,"event"`, `, "event"`, 1)
	for _, tc := range []struct {
		name   string
		header string
		body   string
		secret workos.Secret
		now    time.Time
		ok     bool
	}{
		{"the reference vector", vectorHeader, vectorBody, vectorSecret, vectorTime, true},
		{"179 s later", vectorHeader, vectorBody, vectorSecret, vectorTime.Add(179 * time.Second), true},
		{"no space after the comma", strings.Replace(vectorHeader, ", ", ",", 1), vectorBody, vectorSecret, vectorTime, true},
		{"181 s later", vectorHeader, vectorBody, vectorSecret, vectorTime.Add(181 * time.Second), false},
		{"181 s early", vectorHeader, vectorBody, vectorSecret, vectorTime.Add(-181 * time.Second), false},
		{"tampered body", vectorHeader, tampered, vectorSecret, vectorTime, false},
		{"re-serialized body", vectorHeader, reserialized, vectorSecret, vectorTime, false},
		{"wrong secret", vectorHeader, vectorBody, "whsec_other", vectorTime, false},
		{"signature of another time", strings.Replace(vectorHeader, "t=1767225600000", "t=1767225600001", 1), vectorBody, vectorSecret, vectorTime, false},
		{"no v1", "t=1767225600000", vectorBody, vectorSecret, vectorTime, false},
		{"no t", "v1=947fa6dcf17367faca35f3d60ec4462c189b7a664e542731db9bca227d40987d", vectorBody, vectorSecret, vectorTime, false},
		{"empty header", "", vectorBody, vectorSecret, vectorTime, false},
		{"not hex", "t=1767225600000, v1=zz", vectorBody, vectorSecret, vectorTime, false},
		{"timestamp in seconds", "t=1767225600, v1=947fa6dcf17367faca35f3d60ec4462c189b7a664e542731db9bca227d40987d", vectorBody, vectorSecret, vectorTime, false},
	} {
		err := workos.VerifySignature(tc.header, []byte(tc.body), tc.secret, workos.DefaultTolerance, tc.now)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, workos.ErrSignature) || schema.ErrorCodeOf(err) != schema.EUnauthorized) {
			t.Errorf("%s: err = %v, want ErrSignature, unauthorized", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "947fa6") {
			t.Errorf("%s: error shows a signature: %v", tc.name, err)
		}
	}
}

// receiver is a webhook endpoint on loopback recording what it accepted.
type receiver struct {
	mu   sync.Mutex
	got  []workos.Event
	fail bool
	url  string
	seen chan struct{}
}

func startReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{seen: make(chan struct{}, 100)}
	h := workos.NewWebhookHandler(workos.Secret(secret), workos.WebhookOptions{}, func(_ context.Context, ev workos.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail {
			return errors.New("store down")
		}
		r.got = append(r.got, ev)
		r.seen <- struct{}{}
		return nil
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	r.url = ts.URL
	return r
}

func (r *receiver) events() []workos.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]workos.Event(nil), r.got...)
}

func TestWebhookHandler(t *testing.T) {
	const secret = "whsec_muster_test"
	srv := workostest.Start(t, workostest.Options{})
	d := srv.CreateDirectory(workostest.DirectorySpec{})
	u, _ := srv.CreateUser(d.ID, workostest.UserSpec{Email: "ada@acme.example"})
	rcv := startReceiver(t, secret)
	ctx := context.Background()

	for _, tc := range []struct {
		forge workostest.Forgery
		want  int
	}{
		{workostest.ForgeWrongSecret, 401},
		{workostest.ForgeStaleTimestamp, 401},
		{workostest.ForgeTamperedBody, 401},
		{workostest.ForgeNoSignature, 401},
		{workostest.Genuine, 200},
	} {
		status, err := srv.Deliver(ctx, workostest.Delivery{URL: rcv.url, Secret: secret, Forge: tc.forge})
		if err != nil || status != tc.want {
			t.Errorf("forge %d: status %d, %v; want %d", tc.forge, status, err, tc.want)
		}
	}
	got := rcv.events()
	if len(got) != 1 || got[0].Event != workos.EventUserCreated || got[0].ID != srv.LastEventID() {
		t.Fatalf("handler got %+v, want only the genuine dsync.user.created", got)
	}
	ch, err := workos.MapEvent(got[0], workos.DeltaOptions{})
	if err != nil || ch.Kind != workos.ChangeUpsert || ch.Record.SourceID != u.ID {
		t.Errorf("mapped = %+v, %v", ch, err)
	}

	res, err := http.Get(rcv.url)
	if err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v, %v", res, err)
	}
	res.Body.Close()
	rcv.mu.Lock()
	rcv.fail = true
	rcv.mu.Unlock()
	if status, _ := srv.Deliver(ctx, workostest.Delivery{URL: rcv.url, Secret: secret}); status != 500 {
		t.Errorf("failing callback: status %d, want 500 so WorkOS retries", status)
	}
}

// TestSubscribedWebhooks: every change the fake makes is delivered, signed,
// to a subscribed endpoint, twice when duplicates are switched on.
func TestSubscribedWebhooks(t *testing.T) {
	const secret = "whsec_sub"
	srv := workostest.Start(t, workostest.Options{DuplicateWebhooks: true})
	rcv := startReceiver(t, secret)
	srv.Subscribe(rcv.url, secret)
	d := srv.CreateDirectory(workostest.DirectorySpec{})
	srv.CreateUser(d.ID, workostest.UserSpec{Email: "ada@acme.example"})
	for range 4 {
		select {
		case <-rcv.seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("deliveries missing: got %d", len(rcv.events()))
		}
	}
	got := rcv.events()
	if got[0].ID != got[1].ID || got[2].ID != got[3].ID || got[0].Event != workos.EventDirectoryActivated || got[2].Event != workos.EventUserCreated {
		t.Errorf("deliveries = %v", names(got))
	}
}
