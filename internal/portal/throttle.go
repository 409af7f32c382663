package portal

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// throttle limits sign-in attempts by key (a username, a client address):
// each key may try burst times at once, then once every every. Keys not
// seen for a while are forgotten, so the map stays bounded by the number
// of keys active recently.
type throttle struct {
	every time.Duration
	burst int
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*throttled
}

type throttled struct {
	lim  *rate.Limiter
	seen time.Time
}

// forgetAfter is how long an unused key is kept; by then its limiter has
// refilled, so forgetting it changes nothing.
const forgetAfter = 15 * time.Minute

func newThrottle(every time.Duration, burst int, now func() time.Time) *throttle {
	return &throttle{every: every, burst: burst, now: now, keys: map[string]*throttled{}}
}

// allow reports whether key may try now, and counts the try.
func (t *throttle) allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.keys) >= 10000 {
		for k, e := range t.keys {
			if now.Sub(e.seen) > forgetAfter {
				delete(t.keys, k)
			}
		}
	}
	e := t.keys[key]
	if e == nil {
		e = &throttled{lim: rate.NewLimiter(rate.Every(t.every), t.burst)}
		t.keys[key] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
