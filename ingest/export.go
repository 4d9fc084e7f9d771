package ingest

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"

	"muster/schema"
	"muster/store"
)

// Export formats.
const (
	ExportCSV  = "csv"  // a header line, then email, first_name, last_name
	ExportJSON = "json" // one JSON object per line (NDJSON)
)

// ExportAudience writes the organisation's active recipients who belong to
// any of the groups (an audience, merge rule 4), in key order, as CSV or
// JSON lines: `muster export` and the HTTP API both use it, so both
// neutralise formulas the same way. It returns how many it wrote.
func ExportAudience(ctx context.Context, st *store.Store, orgID int64, groupIDs []int64, format string, out io.Writer) (int64, error) {
	if format != ExportCSV && format != ExportJSON {
		return 0, schema.Errorf(schema.EInvalid, "export format %q is not csv or json", format)
	}
	if len(groupIDs) == 0 {
		return 0, schema.Errorf(schema.EInvalid, "an export needs at least one group")
	}
	w := bufio.NewWriterSize(out, 1<<16)
	var each func(store.Recipient) error
	var flush func() error
	if format == ExportJSON {
		enc := json.NewEncoder(w)
		each = func(r store.Recipient) error {
			return enc.Encode(map[string]string{"email": r.Email, "first_name": r.FirstName, "last_name": r.LastName})
		}
		flush = func() error { return nil }
	} else {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"email", "first_name", "last_name"}); err != nil {
			return 0, err
		}
		each = func(r store.Recipient) error {
			return cw.Write([]string{NeutraliseCSV(r.Email), NeutraliseCSV(r.FirstName), NeutraliseCSV(r.LastName)})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	}
	var n int64
	f := store.RecipientFilter{Status: store.StatusActive, GroupIDs: groupIDs}
	err := st.EachRecipient(ctx, orgID, f, 0, func(r store.Recipient) error {
		n++
		return each(r)
	})
	if err != nil {
		return n, err
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, w.Flush()
}

// NeutraliseCSV keeps a spreadsheet from running a value as a formula
// (schema.NeutraliseCSV): values added by hand are not trimmed as a file's
// are, so a formula may hide behind leading white space.
func NeutraliseCSV(s string) string { return schema.NeutraliseCSV(s) }

// AttrMap returns the optional attributes that have a value, by name, for
// JSON.
func AttrMap(a schema.Attrs) map[string]string { return attrMap(a) }
