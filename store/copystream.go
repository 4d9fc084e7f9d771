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
	// firstDrops holds Tx.firstDrop's state, by drop id (firstdrop.go).
	firstDrops map[int64]*firstDropState
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

// snapshotCopyCols and recipientCopyCols are the columns the COPYs of new
// snapshot rows and recipients write, in the order copyAssertions and
// copyRecipients encode them.
var (
	snapshotCopyCols  = []string{"source_id", "seq", "drop_id", "first_drop", "key", "line", "hash", "status", "data"}
	recipientCopyCols = []string{"org_id", "created_seq", "updated_seq", "key", "email", "first_name", "last_name",
		"attrs", "status", "group_ids", "search"}
)

// copyAssertions adds new snapshot rows, all of one source and drop, to
// the snapshot's COPY: each encoded straight into COPY's format (no value
// boxed on the way). A large first drop's rows carry first_drop
// (firstdrop.go). A COPY's failure is returned by a later call, flush or
// Commit.
func (t *Tx) copyAssertions(as []Assertion) error {
	first := &as[0]
	st, err := t.firstDrop(first.SourceID, first.DropID)
	if err != nil {
		return err
	}
	for i := range as {
		a := &as[i]
		fd, err := t.leaveOut(st, first.DropID)
		if err != nil {
			return err
		}
		pc, err := t.tx.pending("snapshot", snapshotCopyCols)
		if err != nil {
			return wrapErr(err, "add snapshot rows")
		}
		b := pc.buf
		b.Row(len(snapshotCopyCols))
		b.Int64(first.SourceID)
		b.Int64(first.Seq)
		b.Int64(first.DropID)
		b.Bool(fd)
		b.Text(a.Key)
		b.Int64(int64(a.Line))
		b.Int64(int64(a.Hash))
		b.Int64(int64(a.Status))
		b.Bytes(encodeData(a))
		if err := t.tx.added(pc); err != nil {
			return wrapErr(err, "add snapshot rows")
		}
	}
	return nil
}

// copyRecipients adds new recipients, all made by one drop, to the
// recipients' COPY, as copyAssertions.
func (t *Tx) copyRecipients(rs []Recipient) error {
	r0 := &rs[0]
	for i := range rs {
		r := &rs[i]
		pc, err := t.tx.pending("recipients", recipientCopyCols)
		if err != nil {
			return wrapErr(err, "save recipients")
		}
		b := pc.buf
		b.Row(len(recipientCopyCols))
		b.Int64(t.org)
		b.Int64(r0.CreatedSeq)
		b.Int64(r0.UpdatedSeq)
		b.Text(r.Key)
		b.Text(storedEmail(r))
		b.Text(r.FirstName)
		b.Text(r.LastName)
		if attrs, ok := encodeAttrs(&r.Attrs).(string); ok {
			b.Text(attrs)
		} else {
			b.Null()
		}
		b.Text(string(r.Status))
		b.Text(groupList(r.GroupIDs))
		b.Text(searchText(r))
		if err := t.tx.added(pc); err != nil {
			return wrapErr(err, "save recipients")
		}
	}
	return nil
}

// pending returns the rows waiting to be copied into table, for the
// caller to add one to its buffer (then call added), or the failure of an
// earlier COPY.
func (x *txn) pending(table string, cols []string) (*pendingCopy, error) {
	if x.err != nil {
		return nil, x.err
	}
	for _, c := range x.copies {
		if c.table == table {
			return c, nil
		}
	}
	pc := &pendingCopy{table: table, cols: cols, buf: copyBufs.Get().(*pg.CopyBuffer)}
	x.copies = append(x.copies, pc)
	return pc, nil
}

// added starts pc's COPY once copyRowsMax rows wait.
func (x *txn) added(pc *pendingCopy) error {
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
