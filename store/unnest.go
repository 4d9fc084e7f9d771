package store

import (
	"strings"
)

// PostgreSQL's upserts of a batch (the snapshot rows and recipients an
// apply updates: its new rows go by COPY, copystream.go) go as one
// statement whatever the batch's size: each column's values are one array
// parameter, turned back into rows by unnest,
//
//	INSERT INTO t(consts' columns, cols) SELECT consts, * FROM unnest($1::text[], $2::bigint[], ...) tail
//
// where the multi-row VALUES of SQLite's path need a statement per 64 rows
// and then one per power of two (a next day of 5,000 updated people: about
// 540 statements, each parsed or bound, run and its triggers fired, in
// place of about 40), and bind every value on its own.

// unnestExec runs bulkExec's rows (head is "INSERT INTO t(columns)
// VALUES") as one statement of arrays, and returns false, with nothing
// run, when a column's values are not all int64, all []byte, or all
// strings and nils (text, NULL for nil).
func (t *Tx) unnestExec(what, head, consts, tail string, cols int, args []any) (bool, error) {
	n := len(args) / cols
	arrays := make([]any, cols)
	params := make([]string, cols)
	for j := range cols {
		a, typ := columnArray(args, j, cols, n)
		if a == nil {
			return false, nil
		}
		arrays[j], params[j] = a, "?::"+typ
	}
	into := strings.TrimSuffix(strings.TrimSpace(head), "VALUES")
	q := into + ` SELECT ` + consts + `* FROM unnest(` + strings.Join(params, ", ") + `)` + tail
	_, err := t.exec(what, q, arrays...)
	return true, err
}

// columnArray returns the values of column j of the n rows of args (cols
// values a row) as a slice pgx sends as an array, and the array's type;
// nil if the column's values are of no one type it knows.
func columnArray(args []any, j, cols, n int) (any, string) {
	switch args[j].(type) {
	case int64:
		out := make([]int64, n)
		for i := range n {
			v, ok := args[i*cols+j].(int64)
			if !ok {
				return nil, ""
			}
			out[i] = v
		}
		return out, "bigint[]"
	case []byte:
		out := make([][]byte, n)
		for i := range n {
			v, ok := args[i*cols+j].([]byte)
			if !ok || v == nil {
				return nil, ""
			}
			out[i] = v
		}
		return out, "bytea[]"
	case string, nil:
		vals := make([]string, n)
		out := make([]*string, n)
		for i := range n {
			switch v := args[i*cols+j].(type) {
			case string:
				vals[i] = v
				out[i] = &vals[i]
			case nil: // NULL
			default:
				return nil, ""
			}
		}
		return out, "text[]"
	}
	return nil, ""
}
