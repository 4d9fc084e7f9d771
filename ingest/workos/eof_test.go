package workos_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
)

// TestDroppedConnectionIsNeverTheEndOfAStream: net/http reports a connection
// closed before the answer as an error wrapping io.EOF. Readers of a
// schema.Stream test errors.Is(err, io.EOF) for its end, so a pull whose
// connections keep dropping part-way must fail with an error that is not
// io.EOF, or the records read so far would pass for the whole directory.
func TestDroppedConnectionIsNeverTheEndOfAStream(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 300, Groups: 3})
	c := mustClient(t, srv, newClock(), nil)
	srv.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Drop: true})
	s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := s.Next()
		if err == nil {
			n++
			continue
		}
		if errors.Is(err, io.EOF) {
			t.Fatalf("after %d of 300 records the stream ended with %v, which is io.EOF: a partial directory", n, err)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error = %v, want it to say the connection closed early", err)
		}
		break
	}
	if n != 100 {
		t.Fatalf("%d records before the failure, want the first page's 100", n)
	}
}
