package scimsource

import (
	"context"
	"time"

	"muster/ingest/scim"
	"muster/store"
)

// statsEvery is how often request statistics are added to the store.
const statsEvery = 5 * time.Second

// KeepStats adds the server's request statistics to the store every few
// seconds and once more at Close, so that `muster sources list` (another
// process) and /v1/sources show each source's last request and counts.
func (b *Backend) KeepStats(stats func() map[string]scim.Stats) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		last := map[string]scim.Stats{}
		t := time.NewTicker(statsEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.flushStats(stats(), last)
			case <-b.ctx.Done():
				b.flushStats(stats(), last)
				return
			}
		}
	}()
}

func (b *Backend) flushStats(now, last map[string]scim.Stats) {
	ctx := context.Background()
	for key, st := range now {
		prev := last[key]
		if st.Requests == prev.Requests {
			continue
		}
		b.mu.Lock()
		s := b.sources[key]
		b.mu.Unlock()
		if s == nil {
			continue
		}
		_, srcID, _, err := b.ids(ctx, s, true)
		if err != nil {
			b.log.Warn("scim: keeping request statistics", "source", key, "error", err)
			continue
		}
		d := store.SCIMStats{Requests: st.Requests - prev.Requests, Errors: st.Errors - prev.Errors,
			LastRequest: st.LastRequest, LastStatus: st.LastStatus}
		if st.Errors != prev.Errors {
			d.LastError, d.LastErrorAt = st.LastError, st.LastErrorTime
		}
		if err := b.st.AddSCIMStats(ctx, srcID, d); err != nil {
			b.log.Warn("scim: keeping request statistics", "source", key, "error", err)
			continue
		}
		last[key] = st
	}
}
