package api

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"muster/schema"
)

// Throttling of refused tokens (README, Admin API): an address may present
// ThrottleLimit missing or invalid tokens per ThrottleWindow; the ones
// after that are answered 429 with Retry-After until the window ends.
// Valid tokens from the address are still served (a guesser behind the
// same proxy as the comms tool does not lock it out). Each address gives
// at most two log lines a window: its first refusal, and when it is
// throttled (with the count of the window before, if it was throttled).
const (
	ThrottleLimit  = 10
	ThrottleWindow = time.Minute
	// maxThrottled bounds the addresses remembered; older windows are
	// forgotten first.
	maxThrottled = 10000
)

// throttle counts refused tokens per client address.
type throttle struct {
	mu    sync.Mutex
	now   func() time.Time
	addrs map[string]*refusals
}

// refusals is an address's window.
type refusals struct {
	start     time.Time
	count     int
	throttled bool
	// last is the count of the address's previous window, when it was
	// throttled: said in the next window's first line.
	last int
}

func newThrottle() *throttle {
	return &throttle{now: time.Now, addrs: map[string]*refusals{}}
}

// clientAddr is the address requests are counted by: the connection's
// host (a reverse proxy's X-Forwarded-For is not trusted: anyone may
// write it).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports whether the address is throttled now, and for how long.
func (t *throttle) blocked(addr string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.addrs[addr]
	now := t.now()
	if a == nil || now.Sub(a.start) >= ThrottleWindow || a.count < ThrottleLimit {
		return false, 0
	}
	return true, a.start.Add(ThrottleWindow).Sub(now)
}

// refused counts a refusal from addr and says what to log: "first" for
// the first refusal of a window, "throttled" when the address reaches the
// limit, "" otherwise. prev is the count of a throttled previous window.
func (t *throttle) refused(addr string) (what string, count, prev int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	a := t.addrs[addr]
	if a == nil || now.Sub(a.start) >= ThrottleWindow {
		last := 0
		if a != nil && a.throttled {
			last = a.count
		}
		if a == nil && len(t.addrs) >= maxThrottled {
			t.prune(now)
		}
		a = &refusals{start: now, last: last}
		t.addrs[addr] = a
	}
	a.count++
	switch {
	case a.count == 1:
		return "first", a.count, a.last
	case a.count == ThrottleLimit:
		a.throttled = true
		return "throttled", a.count, 0
	}
	return "", a.count, 0
}

// prune forgets the addresses whose window ended.
func (t *throttle) prune(now time.Time) {
	for k, a := range t.addrs {
		if now.Sub(a.start) >= ThrottleWindow {
			delete(t.addrs, k)
		}
	}
	for k := range t.addrs { // still full: an attack from many addresses
		if len(t.addrs) < maxThrottled {
			break
		}
		delete(t.addrs, k)
	}
}

// refusedToken counts and logs a request whose token was missing or
// unknown (never what was presented), and answers it: 401, or 429 once
// the address is over the rate.
func (s *Server) refusedToken(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Metrics.authFailed()
	addr := clientAddr(r)
	if blocked, wait := s.throttle.blocked(addr); blocked {
		s.cfg.Metrics.throttled()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		s.writeError(w, r, httpErrorf(http.StatusTooManyRequests, schema.EUnauthorized,
			"too many refused tokens from %s: try again in %d s", addr, int(wait.Seconds()+0.999)))
		return
	}
	s.noteRefusal(r, err)
	s.writeError(w, r, err)
}

// noteRefusal counts a refusal against its address and logs it once per
// window: the first, and when the address is throttled.
func (s *Server) noteRefusal(r *http.Request, err error) {
	addr := clientAddr(r)
	what, count, prev := s.throttle.refused(addr)
	attrs := []any{"remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "reason", schema.ErrorMessageOf(err)}
	switch what {
	case "first":
		if prev > 0 {
			attrs = append(attrs, "refused_last_window", prev)
		}
		s.log.Warn("authentication failed", attrs...)
	case "throttled":
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "authentication failed repeatedly: further refused tokens from this address are answered 429 until the window ends",
			slog.String("remote", addr), slog.Int("refused", count), slog.Duration("window", ThrottleWindow))
	}
}
