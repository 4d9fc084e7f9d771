package ingest

import (
	"context"
	"unsafe"

	"muster/store"
)

// prefetch runs each (reading and decoding a drop's changes) on its own
// goroutine, a batch ahead of fn, so the decoding of changes overlaps the
// store's writing them: on two cores a first ingest's apply is bound by
// SQLite alone. Batches go back to the reader once fn is done with them:
// fn is given each change where it lies in its batch (a change is some 340
// bytes), valid until fn returns.
func prefetch(ctx context.Context, each func(func(store.Change) error) error) func(func(*store.Change) error) error {
	return func(fn func(*store.Change) error) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Batches of 1024, one ahead: the reader is woken once a batch
		// (with 256 it was woken four times as often), and 3,072 changes
		// are in flight (some 540 bytes each from a spill's runs: three
		// ahead added ~5 MB to a 3M next day's peak). The reader outruns
		// the store: one batch ready is enough.
		const size, ahead = 1024, 1
		ch := make(chan []store.Change, ahead)
		free := make(chan []store.Change, ahead+2)
		errc := make(chan error, 1)
		go func() {
			defer close(ch)
			b := make([]store.Change, 0, size)
			send := func() error {
				select {
				case ch <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
				select {
				case b = <-free:
					b = b[:0]
				default:
					b = make([]store.Change, 0, size)
				}
				return nil
			}
			err := each(func(c store.Change) error {
				b = append(b, c)
				if len(b) == size {
					return send()
				}
				return nil
			})
			if err == nil && len(b) > 0 {
				err = send()
			}
			errc <- err
		}()
		for b := range ch {
			for i := range b {
				if j := i + walkAhead; j < len(b) {
					cacheChange(&b[j])
				}
				if err := fn(&b[i]); err != nil {
					cancel()
					for range ch {
					}
					<-errc
					return err
				}
			}
			clear(b) // the strings are not kept alive by a batch waiting for reuse
			select {
			case free <- b:
			default:
			}
		}
		return <-errc
	}
}

// cacheChange asks for the cache lines of a change's values (cacheAhead),
// a few changes before fn reads them: fn reads them first on this core,
// after each decoded them on the other one (a spill's walk), and every
// first touch of a key was a wait for memory (the batching loop's key
// comparison, some 4% of a 100k first ingest's CPU). A spill's change holds
// its values in one piece of memory, the key first: the lines from the
// key's to the last value's end are asked for (a hint: nothing is read).
func cacheChange(c *store.Change) {
	if len(c.Key) == 0 {
		return
	}
	last := c.Key
	for i := len(c.Attrs) - 1; i >= 0; i-- {
		if c.Attrs[i] != "" {
			last = c.Attrs[i]
			break
		}
	}
	p := unsafe.StringData(c.Key)
	start := uintptr(unsafe.Pointer(p))
	end := uintptr(unsafe.Pointer(unsafe.StringData(last))) + uintptr(len(last))
	if end < start || end-start > 512 {
		// Not one piece: the key's line only.
		end = start + uintptr(len(c.Key))
	}
	cacheSpan(p, end-start)
}
