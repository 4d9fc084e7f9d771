package ingest

import (
	"context"

	"muster/store"
)

// prefetch runs each (reading and decoding a drop's changes) on its own
// goroutine, a batch ahead of fn, so the decoding of changes overlaps the
// store's writing them: on two cores a first ingest's apply is bound by
// SQLite alone. Batches go back to the reader once fn is done with them.
func prefetch(ctx context.Context, each func(func(store.Change) error) error) func(func(store.Change) error) error {
	return func(fn func(store.Change) error) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		const size, ahead = 256, 8
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
			for _, c := range b {
				if err := fn(c); err != nil {
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
