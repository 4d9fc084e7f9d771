package store

/*
#include <stdint.h>
#include <string.h>

// SQLite's C API, as go-sqlite3 compiles it into the binary (its
// amalgamation; sqlite3.h declares the same).
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
extern int sqlite3_step(sqlite3_stmt*);
typedef struct sqlite3_value sqlite3_value;
extern sqlite3_value *sqlite3_column_value(sqlite3_stmt*, int);
extern int sqlite3_value_type(sqlite3_value*);
extern const unsigned char *sqlite3_value_text(sqlite3_value*);
extern int sqlite3_value_bytes(sqlite3_value*);
extern long long sqlite3_value_int64(sqlite3_value*);
extern sqlite3 *sqlite3_db_handle(sqlite3_stmt*);
extern const char *sqlite3_errmsg(sqlite3*);

#define MUSTER_MAXCOLS 16

static const char *muster_errmsg(sqlite3_stmt *st) {
	return sqlite3_errmsg(sqlite3_db_handle(st));
}

// muster_rows steps st and copies each row's ncol values into buf (cap
// bytes) until the statement ends or the next row does not fit. A value is
// its type (SQLITE_INTEGER 1, FLOAT 2, TEXT 3, BLOB 4, NULL 5), then for an
// integer its 8 bytes (little-endian) and for text a 4-byte length and the
// bytes; a float or a blob is its type alone. Nothing SQLite owns is kept:
// a row's text is copied before the next step. With pending set, the row
// st stands on (one that did not fit before) comes first, without a step.
// Returns SQLITE_DONE at the end; SQLITE_ROW when buf is full and a row is
// pending; -1 when not even that one row fits (*used is then its size);
// SQLite's error code otherwise. *used and *nrows say what buf holds.
// Values are read through sqlite3_column_value, one look-up of the column
// each: SQLite calls such values unprotected, not to be read from two
// threads at once, and this connection is one goroutine's (the caller
// holds it through database/sql's Conn.Raw; it is opened NOMUTEX anyway).
static int muster_rows(sqlite3_stmt *st, int ncol, int pending, unsigned char *buf, int cap, int *used, int *nrows) {
	int n = 0, rows = 0;
	int types[MUSTER_MAXCOLS];
	sqlite3_value *vals[MUSTER_MAXCOLS];
	const unsigned char *text[MUSTER_MAXCOLS];
	int len[MUSTER_MAXCOLS];
	if (ncol > MUSTER_MAXCOLS) {
		return 1; // SQLITE_ERROR; the caller never asks this
	}
	for (;;) {
		if (!pending) {
			int rc = sqlite3_step(st);
			if (rc != 100) {
				*used = n;
				*nrows = rows;
				return rc;
			}
		}
		pending = 0;
		int need = 0;
		for (int i = 0; i < ncol; i++) {
			sqlite3_value *v = sqlite3_column_value(st, i);
			int t = sqlite3_value_type(v);
			vals[i] = v;
			types[i] = t;
			need += 1;
			if (t == 1) {
				need += 8;
			} else if (t == 3) {
				text[i] = sqlite3_value_text(v);
				len[i] = sqlite3_value_bytes(v);
				if (text[i] == 0) { // out of memory
					*used = n;
					*nrows = rows;
					return 7; // SQLITE_NOMEM
				}
				need += 4 + len[i];
			}
		}
		if (need > cap - n) {
			*used = rows ? n : need;
			*nrows = rows;
			return rows ? 100 : -1;
		}
		for (int i = 0; i < ncol; i++) {
			unsigned char *p = buf + n;
			p[0] = (unsigned char)types[i];
			n++;
			if (types[i] == 1) {
				uint64_t v = (uint64_t)sqlite3_value_int64(vals[i]);
				for (int k = 0; k < 8; k++) {
					p[1 + k] = (unsigned char)(v >> (8 * k));
				}
				n += 8;
			} else if (types[i] == 3) {
				uint32_t l = (uint32_t)len[i];
				p[1] = l;
				p[2] = l >> 8;
				p[3] = l >> 16;
				p[4] = l >> 24;
				memcpy(p + 5, text[i], len[i]);
				n += 4 + len[i];
			}
		}
		rows++;
	}
}
*/
import "C"

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/mattn/go-sqlite3"
)

// SQLite's value types, as muster_rows writes them.
const (
	rawInt  = 1
	rawText = 3
	rawNull = 5
)

// rawCol is one value of a row read by readRaw. Its text is a view of the
// reader's buffer, overwritten by the rows after it.
type rawCol struct {
	typ  byte
	i    int64
	text []byte
}

// rawBuffers keeps readRaw's buffers (64 KiB) from read to read, so that a
// page allocates none.
var rawBuffers = make(chan []byte, 4)

const rawBufSize = 64 << 10

// errRawShape ends a raw read at a row whose values are not of the types
// its reader expects: the reads from that row on go through the driver.
var errRawShape = fmt.Errorf("a value of another type")

// rawStmt is the C handle of the statement go-sqlite3's rows read: the
// unexported fields s of its SQLiteRows (the *SQLiteStmt) and of that
// (the *C.sqlite3_stmt). Nil when the driver does not hold them there
// (another version of it): reads then take the driver's path.
func rawStmt(rows driver.Rows) *C.sqlite3_stmt {
	field := func(v reflect.Value, name string) reflect.Value {
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return reflect.Value{}
		}
		f := v.Elem().FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
			return reflect.Value{}
		}
		return f
	}
	f := field(field(reflect.ValueOf(rows), "s"), "s")
	if !f.IsValid() || f.Type().Elem().Name() != "_Ctype_struct_sqlite3_stmt" {
		return nil
	}
	return (*C.sqlite3_stmt)(f.UnsafePointer())
}

// readRaw runs q on the SQLite connection qc and calls fn with each row's
// ncol values (the slice and the values' bytes are reused: fn copies what
// it keeps). The driver runs the query (its statement cache, its binding)
// and reads the first row; the rows after it are copied out of SQLite
// through its C API, which go-sqlite3 compiles in, in batches of one C
// call, with no Go value made per column: a page of a thousand recipients
// allocates nothing. ctx is checked between batches. ok is false when the driver's rows hold no statement
// handle readRaw knows (nothing was read). When fn returns errRawShape,
// rest is called with the number of rows read before that one, while the
// statement is still open (a second query on the connection then reads the
// same snapshot), and its error returned. Other errors of fn are returned
// as they are.
func readRaw(ctx context.Context, qc driver.QueryerContext, q string, args []driver.NamedValue, ncol int, fn func(cols []rawCol) error, rest func(skip int) error) (ok bool, err error) {
	if ncol > C.MUSTER_MAXCOLS {
		return false, nil
	}
	rows, err := qc.QueryContext(context.Background(), q, args)
	if err != nil {
		return true, err
	}
	defer rows.Close() // the statement goes back to the cache, reset
	h := rawStmt(rows)
	if h == nil || len(rows.Columns()) != ncol {
		return false, nil
	}
	cols := make([]rawCol, ncol)
	dest := make([]driver.Value, ncol)
	if err := rows.Next(dest); err == io.EOF {
		return true, nil
	} else if err != nil {
		return true, err
	}
	for i, v := range dest {
		cols[i] = rawColOf(v)
	}
	if err := fn(cols); err == errRawShape {
		return true, rest(0)
	} else if err != nil {
		return true, err
	}
	var pooled []byte
	select {
	case pooled = <-rawBuffers:
	default:
		pooled = make([]byte, rawBufSize)
	}
	defer func() {
		select {
		case rawBuffers <- pooled:
		default:
		}
	}()
	buf := pooled
	pending, read := 0, 1
	for {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		var used, nrows C.int
		rc := C.muster_rows(h, C.int(ncol), C.int(pending), (*C.uchar)(unsafe.Pointer(&buf[0])), C.int(len(buf)), &used, &nrows)
		if rc == -1 { // one row larger than the buffer: a buffer of its own
			buf = make([]byte, int(used)+rawBufSize)
			pending = 1
			continue
		}
		if rc != 100 && rc != 101 {
			return true, rawError(h, rc)
		}
		b := buf[:used]
		for range int(nrows) {
			for i := range cols {
				col := &cols[i]
				col.typ, b = b[0], b[1:]
				switch col.typ {
				case rawInt:
					col.i, b = int64(binary.LittleEndian.Uint64(b)), b[8:]
				case rawText:
					n := binary.LittleEndian.Uint32(b)
					col.text, b = b[4:4+n:4+n], b[4+n:]
				}
			}
			if err := fn(cols); err == errRawShape {
				return true, rest(read)
			} else if err != nil {
				return true, err
			}
			read++
		}
		if rc == 101 {
			return true, nil
		}
		pending = 1
	}
}

// rawError is the statement's error rc with SQLite's message, as the
// driver's error type (isBusy reads its code).
func rawError(h *C.sqlite3_stmt, rc C.int) error {
	se := sqlite3.Error{Code: sqlite3.ErrNo(rc & 0xff), ExtendedCode: sqlite3.ErrNoExtended(rc)}
	return fmt.Errorf("%s: %w", C.GoString(C.muster_errmsg(h)), se)
}

// rawColOf is a value the driver read as readRaw's column.
func rawColOf(v driver.Value) rawCol {
	switch v := v.(type) {
	case int64:
		return rawCol{typ: rawInt, i: v}
	case string:
		return rawCol{typ: rawText, text: unsafe.Slice(unsafe.StringData(v), len(v))}
	case nil:
		return rawCol{typ: rawNull}
	}
	return rawCol{} // of a type no raw read expects
}

// viewString is b as a string without a copy: valid while b's bytes are
// not overwritten (readRaw's next batch).
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
