package store

import (
	"sync"

	"muster/store/pg"
)

// PostgreSQL's bulk path. An apply's new snapshot rows and recipients go
// by COPY, copyRowsMax rows a COPY: they are encoded into a buffer as the
// apply hands them over (pg.CopyBuffer), and a full buffer is copied by a
// goroutine while the apply prepares the next rows, so muster's work and
// the server's overlap instead of taking turns. One COPY runs at a time on
// the transaction's connection, in the order the rows were given. Any
// other statement of the transaction first waits for the COPY in flight
// and copies what waits (flush), so it sees every row written before it;
// so do Commit and Rollback. A COPY that fails fails the transaction: the
// error is returned by the next write, statement or Commit, which rolls
// back, and nothing of the transaction stays.
type copyStream struct {
	copies   []*pendingCopy
	inFlight chan copyResult // the COPY running, nil when none
	err      error           // a failed COPY: the transaction cannot commit
	// copied counts the rows copied, by table (analyze.go).
	copied map[string]int
	// firstDrops caches Tx.firstDrop, by drop id (firstdrop.go).
	firstDrops map[int64]bool
}

// pendingCopy is rows waiting to be copied into table.
type pendingCopy struct {
	table string
	cols  []string
	buf   *pg.CopyBuffer
}

// copyResult is the outcome of a COPY run by a goroutine.
type copyResult struct {
	table string
	buf   *pg.CopyBuffer
	err   error
}

// copyRowsMax is how many rows a COPY carries at most.
const copyRowsMax = 8192

// copyBufs keeps emptied buffers (a few MB each once grown), so a large
// apply does not allocate one per COPY.
var copyBufs = sync.Pool{New: func() any { return new(pg.CopyBuffer) }}

// copyLater adds a row (the values of head then those of vals) for table,
// and starts its COPY once copyRowsMax rows wait. A value the encoder does
// not know is refused here, with nothing sent; a COPY's own failure
// (a row the server refuses, a lost connection, ctx cancelled) is
// returned by a later call, flush or Commit.
func (x *txn) copyLater(table string, cols []string, head, vals []any) error {
	if x.err != nil {
		return x.err
	}
	var pc *pendingCopy
	for _, c := range x.copies {
		if c.table == table {
			pc = c
			break
		}
	}
	if pc == nil {
		pc = &pendingCopy{table: table, cols: cols, buf: copyBufs.Get().(*pg.CopyBuffer)}
		x.copies = append(x.copies, pc)
	}
	if err := pc.buf.Add(head, vals); err != nil {
		return err
	}
	if pc.buf.Rows() >= copyRowsMax {
		return x.send(pc)
	}
	return nil
}

// send starts a COPY of pc's rows once the one in flight has ended, and
// gives pc an empty buffer for the rows that follow.
func (x *txn) send(pc *pendingCopy) error {
	if err := x.wait(); err != nil {
		return err
	}
	buf := pc.buf
	pc.buf = copyBufs.Get().(*pg.CopyBuffer)
	done := make(chan copyResult, 1)
	x.inFlight = done
	ctx, conn, table, cols := x.ctx, x.conn, pc.table, pc.cols
	go func() {
		done <- copyResult{table: table, buf: buf, err: buf.Copy(ctx, conn, table, cols)}
	}()
	return nil
}

// wait waits for the COPY in flight, if any, and returns the first
// failure of the transaction's COPYs.
func (x *txn) wait() error {
	if x.inFlight != nil {
		c := <-x.inFlight
		x.inFlight = nil
		if c.err != nil && x.err == nil {
			x.err = c.err
		}
		x.countCopied(c.table, c.buf.Rows())
		c.buf.Reset()
		copyBufs.Put(c.buf)
	}
	return x.err
}

// flush copies every row waiting, so the statements that follow see them.
func (x *txn) flush() error {
	if err := x.wait(); err != nil {
		return err
	}
	for _, pc := range x.copies {
		if pc.buf.Rows() == 0 {
			continue
		}
		if err := pc.buf.Copy(x.ctx, x.conn, pc.table, pc.cols); err != nil {
			x.err = err
			return err
		}
		x.countCopied(pc.table, pc.buf.Rows())
		pc.buf.Reset()
	}
	return nil
}

// releaseCopies gives the buffers back once the transaction has ended
// (after wait: none is in flight).
func (x *txn) releaseCopies() {
	for _, pc := range x.copies {
		pc.buf.Reset()
		copyBufs.Put(pc.buf)
	}
	x.copies = nil
}
