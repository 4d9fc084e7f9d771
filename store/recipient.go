package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"muster/schema"
)

// RecipientStatus says whether a person is in the audience and, if not, why.
type RecipientStatus string

// Recipient statuses.
const (
	// StatusActive: in the audience.
	StatusActive RecipientStatus = "active"
	// StatusOffboarded: an authoritative source offboarded them (merge rule
	// 5); not in any group until lifted.
	StatusOffboarded RecipientStatus = "offboarded"
	// StatusInactive: the sources that list them all say they are inactive.
	StatusInactive RecipientStatus = "inactive"
	// StatusGone: no source lists them any more. The row stays for history.
	StatusGone RecipientStatus = "gone"
)

// Recipient is a merged person of an organisation's audience.
type Recipient struct {
	OrgID     int64           `json:"-"`
	Key       string          `json:"key"`
	Email     string          `json:"email"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
	Attrs     schema.Attrs    `json:"-"`
	Status    RecipientStatus `json:"status"`
	// GroupIDs are the ids of the groups they belong to, ascending.
	GroupIDs   []int64 `json:"-"`
	CreatedSeq int64   `json:"created_seq"`
	UpdatedSeq int64   `json:"updated_seq"`
}

const recipientCols = `org_id, key, email, first_name, last_name, attrs, status, group_ids, created_seq, updated_seq`

// A recipient's address is most often its key (the normalised email is the
// address as written): recipients.email then holds '' instead of the key a
// second time, as the snapshot's data does (encodeData). At some 50 bytes
// of a 150-byte row that is a third of the table's pages, each written to
// the WAL and again to the store at a first ingest. A recipient's Email is
// never empty (an apply falls back to the key), so '' only ever means the
// key. Rows written before hold the address in full, and every read takes
// both: emailCol in SQL, readEmail in Go.

// storedEmail is r's address as recipients.email holds it.
func storedEmail(r *Recipient) string {
	if r.Email == r.Key {
		return ""
	}
	return r.Email
}

// readEmail is the address of the recipient with key whose recipients.email
// is email.
func readEmail(key, email string) string {
	if email == "" {
		return key
	}
	return email
}

// emailCol is the address of the recipient of alias (e.g. "r.") in SQL,
// as readEmail makes it.
func emailCol(alias string) string {
	return "coalesce(nullif(" + alias + "email, ''), " + alias + "key)"
}

func scanRecipient(sc scanner) (Recipient, error) {
	var r Recipient
	var attrs sql.NullString
	var gids string
	err := sc.Scan(&r.OrgID, &r.Key, &r.Email, &r.FirstName, &r.LastName, &attrs, &r.Status, &gids,
		&r.CreatedSeq, &r.UpdatedSeq)
	r.Email = readEmail(r.Key, r.Email)
	r.Attrs = decodeAttrs(attrs)
	r.GroupIDs = parseIDs(gids)
	return r, err
}

// groupList formats group ids as stored: ",3,17," (empty for none).
func groupList(ids []int64) string {
	return string(appendGroupList(nil, ids))
}

// appendGroupList appends groupList(ids) to b.
func appendGroupList(b []byte, ids []int64) []byte {
	if len(ids) == 0 {
		return b
	}
	for _, id := range ids {
		b = strconv.AppendInt(append(b, ','), id, 10)
	}
	return append(b, ',')
}

func formatIDs(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

func parseIDs(s string) []int64 {
	if s == "" {
		return nil
	}
	return appendIDs(make([]int64, 0, strings.Count(s, ",")), s)
}

// appendIDs appends the ids of a stored list to out: in one pass over a
// list of digits and commas (what the store writes), else as
// appendIDsEach.
func appendIDs(out []int64, s string) []int64 {
	start := len(out)
	var id int64
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9' && digits < 18:
			id, digits = id*10+int64(c-'0'), digits+1
		case c == ',':
			if digits > 0 {
				out = append(out, id)
			}
			id, digits = 0, 0
		default:
			return appendIDsEach(out[:start], s)
		}
	}
	if digits > 0 {
		out = append(out, id)
	}
	return out
}

// appendIDsEach appends the ids of a stored list to out, each read by
// parseID.
func appendIDsEach(out []int64, s string) []int64 {
	for len(s) > 0 {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			i = len(s)
		}
		if i > 0 {
			if id, ok := parseID(s[:i]); ok {
				out = append(out, id)
			}
		}
		s = s[min(i+1, len(s)):]
	}
	return out
}

// parseID reads a stored group id: decimal digits, as strconv.ParseInt
// would (a page reads some 3,000 of them), and ParseInt itself for
// anything else.
func parseID(s string) (int64, bool) {
	if len(s) > 18 {
		id, err := strconv.ParseInt(s, 10, 64)
		return id, err == nil
	}
	var id int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			id, err := strconv.ParseInt(s, 10, 64)
			return id, err == nil
		}
		id = id*10 + int64(c-'0')
	}
	return id, true
}

// Recipient returns the organisation's recipient with that key (a
// normalised email), or ENotFound.
func (s *Store) Recipient(ctx context.Context, orgID int64, key string) (Recipient, error) {
	r, err := scanRecipient(s.db.QueryRowContext(ctx, `SELECT `+recipientCols+` FROM recipients WHERE org_id=? AND key=?`, orgID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Recipient{}, schema.Errorf(schema.ENotFound, "no recipient %q", key)
	}
	return r, wrapErr(err, "recipient %q", key)
}

// RecipientFilter selects recipients to list. After is a cursor: only keys
// after it (the list is in key order).
type RecipientFilter struct {
	// Status filters by status; empty lists every status.
	Status RecipientStatus
	// GroupIDs keeps members of any of these groups.
	GroupIDs []int64
	// Search keeps recipients whose email or name contains it (any case).
	Search string
	// SourceID keeps the people that source lists now (any status).
	SourceID int64
	After    string
	Limit    int
	// Scan, if positive, bounds the work of a page: only the next Scan
	// recipients of the organisation in key order (after After, whatever
	// their status) are looked at. A filter that matches few people (a
	// rare search) then answers a short page, even an empty one, whose
	// next cursor is where the look stopped: the following page goes on
	// from there. Zero looks until the page is full or the list ends.
	Scan int
	// until is the last key the page may hold (Scan's bound; "" none).
	until string
}

// bound sets f's until when f.Scan asks: the key Scan recipients after
// f.After ("" when fewer remain: the page may go to the end).
func (s *Store) bound(ctx context.Context, orgID int64, f *RecipientFilter) error {
	if f.Scan <= 0 {
		return nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT key FROM recipients WHERE org_id=? AND key>? ORDER BY key LIMIT 1 OFFSET ?`,
		orgID, f.After, f.Scan-1).Scan(&f.until)
	if errors.Is(err, sql.ErrNoRows) {
		f.until = ""
		return nil
	}
	return wrapErr(err, "list recipients")
}

// Recipients lists the organisation's recipients in key order. next is the
// cursor for the following page ("" at the end).
func (s *Store) Recipients(ctx context.Context, orgID int64, f RecipientFilter) (out []Recipient, next string, err error) {
	limit := pageLimit(f.Limit)
	if err := s.bound(ctx, orgID, &f); err != nil {
		return nil, "", err
	}
	out = make([]Recipient, 0, min(limit+1, 1024))
	ids := make([]int64, 0, 4*cap(out)) // every recipient's GroupIDs, one allocation
	err = s.readJoined(ctx, pageQuery(orgID, f, limit+1), func(t []string, rest []driver.Value) error {
		r, err := pageRecipient(t, rest, orgID, f.Status, &ids)
		out = append(out, r)
		return err
	})
	out, next = cutPage(out, limit, func(r Recipient) string { return r.Key })
	if next == "" {
		next = f.until
	}
	return out, next, err
}

// EachRecipientPage calls fn with each recipient of the page of f, in key
// order, and returns the cursor of the next page ("" at the end). The
// recipient, its GroupIDs and the bytes of its strings are reused from call
// to call (readPage): fn must copy what it keeps, strings with
// strings.Clone. A page is read without building a slice of it.
func (s *Store) EachRecipientPage(ctx context.Context, orgID int64, f RecipientFilter, fn func(r *Recipient) error) (next string, err error) {
	limit := pageLimit(f.Limit)
	if err := s.bound(ctx, orgID, &f); err != nil {
		return "", err
	}
	n := 0
	var last []byte // the key of the page's last recipient, copied
	err = s.readPage(ctx, pageQuery(orgID, f, limit+1), orgID, f.Status, func(r *Recipient) error {
		if n++; n > limit {
			next = string(last)
			return nil
		}
		last = append(last[:0], r.Key...)
		return fn(r)
	})
	if next == "" {
		next = f.until
	}
	return next, err
}

// EachRecipient calls fn with the recipients matching f, in key order, at
// most limit of them (0: all).
func (s *Store) EachRecipient(ctx context.Context, orgID int64, f RecipientFilter, limit int, fn func(Recipient) error) error {
	q, args := recipientQuery(prefixed("r.", recipientCols), orgID, f, limit)
	var bad error
	err := s.readRows(ctx, "list recipients", q, args, func(v []driver.Value) error {
		r, err := recipientOf(v, nil)
		if err != nil {
			bad = err
			return err
		}
		return fn(r)
	})
	if err != nil && err == bad {
		return wrapErr(err, "list recipients")
	}
	return err
}

// EachAudienceMember calls fn with the email, first and last name of each
// of the organisation's active recipients who belong to any of the groups
// (an audience, merge rule 4), in key order: what an export writes, and no
// other column. On SQLite the strings are views of a buffer the rows after
// them overwrite (readFast): fn must copy (strings.Clone) what it keeps.
func (s *Store) EachAudienceMember(ctx context.Context, orgID int64, groupIDs []int64, fn func(email, firstName, lastName string) error) error {
	f := RecipientFilter{Status: StatusActive, GroupIDs: groupIDs}
	jq := joinedQuery{what: "export recipients", n: 3, query: func(joined bool) (string, []any) {
		cols := emailCol("r.") + ", r.first_name, r.last_name"
		if joined {
			cols = joinCols(emailCol("r."), "r.first_name", "r.last_name")
		}
		return recipientQuery(cols, orgID, f, 0)
	}}
	return s.readFast(ctx, jq, 3, func(c []rawCol) (bool, error) {
		if c[0].typ != rawText || c[1].typ != rawText || c[2].typ != rawText {
			return false, nil
		}
		return true, fn(viewString(c[0].text), viewString(c[1].text), viewString(c[2].text))
	}, func(t []string, _ []driver.Value) error {
		return fn(t[0], t[1], t[2])
	})
}

// searchSep separates the fields of a recipient's search text.
const searchSep = "\x1f"

// searchText is what a search matches in a recipient besides its key, as
// stored in recipients.search: the address as written, folded, when that
// is not the key (most are), then the folded "first last". A search
// (RecipientFilter.Search, folded) matches when it is part of the key or
// of one of these fields, as muster_fold of each field would: the
// separator is a control character no address or name holds.
func searchText(r *Recipient) string {
	return string(appendSearchText(nil, r))
}

// appendSearchText appends searchText(r) to b.
func appendSearchText(b []byte, r *Recipient) []byte {
	// An address that is its key and folds to itself (lower-case ASCII, as
	// most keys are) is left out without folding it.
	if r.Email != r.Key || !foldsToItself(r.Key) {
		start := len(b)
		b = schema.AppendFold(b, r.Email)
		if string(b[start:]) == r.Key {
			b = b[:start]
		} else {
			b = append(b, searchSep...)
		}
	}
	if !schema.IsASCII(r.FirstName) || !schema.IsASCII(r.LastName) {
		// Folded whole: NFC may compose across the space.
		return append(b, schema.Fold(r.FirstName+" "+r.LastName)...)
	}
	b = schema.AppendFold(b, r.FirstName)
	b = append(b, ' ')
	return schema.AppendFold(b, r.LastName)
}

// foldsToItself says schema.Fold(s) is s for certain: s is ASCII without
// an upper-case letter.
func foldsToItself(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// recipientQuery selects cols of the recipients matching f, in key order.
func recipientQuery(cols string, orgID int64, f RecipientFilter, limit int) (string, []any) {
	// With a source, its snapshot (keyed by source and key) is read in key
	// order and each of its people looked up: a page of a source of ten
	// people among a million reads ten rows. Without, the recipients are.
	//
	// The organisation, the source and a status are written into the query,
	// not bound: SQLite (3.54) prepares a statement again at its first step
	// whenever a value compared by one of its equality terms was bound
	// again, and a walk runs the same page query a thousand times with only
	// the cursor changed (a page's query planned again cost some 70 us).
	org := strconv.FormatInt(orgID, 10)
	from, key := `recipients r`, "r.key"
	where := []string{"r.org_id=" + org}
	var args []any
	if f.SourceID != 0 {
		// CROSS JOIN: SQLite takes the tables in the order written.
		from, key = `snapshot a CROSS JOIN recipients r`, "a.key"
		where = []string{"a.source_id=" + strconv.FormatInt(f.SourceID, 10), "r.org_id=" + org, "r.key=a.key"}
	}
	switch f.Status {
	case "":
	case StatusActive, StatusOffboarded, StatusInactive, StatusGone:
		where = append(where, "r.status='"+string(f.Status)+"'")
	default: // none matches, but a value never goes into the text
		where, args = append(where, "r.status=?"), append(args, string(f.Status))
	}
	if f.After != "" {
		where, args = append(where, key+">?"), append(args, f.After)
	}
	if f.until != "" {
		where, args = append(where, key+"<=?"), append(args, f.until)
	}
	if f.Search != "" {
		folded := schema.Fold(f.Search)
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(folded) + "%"
		if strings.Contains(folded, searchSep) {
			// Only a search holding the separator could match across two
			// fields of the stored text: it is matched field by field.
			where = append(where, `(r.key LIKE ? ESCAPE '\' OR muster_fold(`+emailCol("r.")+`) LIKE ? ESCAPE '\' OR muster_fold(r.first_name || ' ' || r.last_name) LIKE ? ESCAPE '\')`)
			args = append(args, like, like, like)
		} else {
			n := strconv.Itoa(len(args) + 1)
			where = append(where, `(r.key LIKE ?`+n+` ESCAPE '\' OR r.search LIKE ?`+n+` ESCAPE '\')`)
			args = append(args, like)
		}
	}
	if len(f.GroupIDs) > 0 {
		var or []string
		for _, id := range f.GroupIDs {
			or, args = append(or, "instr(r.group_ids, ?) > 0"), append(args, ","+strconv.FormatInt(id, 10)+",")
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	q := `SELECT ` + cols + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + key
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	return q, args
}

// pageQuery reads a page of f: the text columns key, first and last names
// and group ids (joined on SQLite, see readJoined), then the address when
// it is not the key as it is (most are), the attributes, the sequences and,
// unless f asks for one, the status. What the caller knows (the
// organisation, the status it asked for) is not read.
func pageQuery(orgID int64, f RecipientFilter, limit int) joinedQuery {
	rest := ", nullif(nullif(r.email, ''), r.key), r.attrs, r.created_seq, r.updated_seq"
	if f.Status == "" {
		rest += ", r.status"
	}
	return joinedQuery{what: "list recipients", n: 4, query: func(joined bool) (string, []any) {
		texts := []string{"r.key", "r.first_name", "r.last_name", "r.group_ids"}
		cols := strings.Join(texts, ", ")
		if joined {
			cols = joinCols(texts...)
		}
		return recipientQuery(cols+rest, orgID, f, limit)
	}}
}

// emailOf is the address read as recipients.email (readEmail) or as
// pageQuery's nullif of it: NULL is the key.
func emailOf(key string, v driver.Value) (string, error) {
	if v == nil {
		return key, nil
	}
	email, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("recipient %q: the address is %T", key, v)
	}
	return readEmail(key, email), nil
}

// pageRecipient makes a recipient of orgID of the values of a pageQuery
// for a filter of that status. Its GroupIDs are appended to *ids when ids
// is not nil (a page's recipients share one array).
func pageRecipient(t []string, rest []driver.Value, orgID int64, status RecipientStatus, ids *[]int64) (Recipient, error) {
	r := Recipient{OrgID: orgID, Key: t[0], FirstName: t[1], LastName: t[2], Status: status}
	var err error
	if r.Email, err = emailOf(r.Key, rest[0]); err != nil {
		return r, err
	}
	var ok [4]bool
	attrs, isText := rest[1].(string)
	ok[0] = isText || rest[1] == nil
	if isText {
		r.Attrs = decodeAttrs(sql.NullString{String: attrs, Valid: true})
	}
	if ids == nil {
		r.GroupIDs = parseIDs(t[3])
	} else if t[3] != "" {
		start := len(*ids)
		*ids = appendIDs(*ids, t[3])
		r.GroupIDs = (*ids)[start:len(*ids):len(*ids)]
	}
	r.CreatedSeq, ok[1] = rest[2].(int64)
	r.UpdatedSeq, ok[2] = rest[3].(int64)
	ok[3] = true
	if status == "" {
		var st string
		st, ok[3] = rest[4].(string)
		r.Status = RecipientStatus(st)
	}
	for i, good := range ok {
		if !good {
			return r, fmt.Errorf("recipient %q: column %d is %T", r.Key, i+1, rest[i+1])
		}
	}
	return r, nil
}

// recipientOf makes a recipient of the values of recipientCols.
func recipientOf(v []driver.Value, ids *[]int64) (Recipient, error) {
	org, ok := v[0].(int64)
	if !ok {
		return Recipient{}, fmt.Errorf("recipient: organisation column is %T", v[0])
	}
	var t [4]string
	for i, c := range []int{1, 3, 4, 7} {
		if t[i], ok = v[c].(string); !ok {
			return Recipient{}, fmt.Errorf("recipient: column %d is %T", c, v[c])
		}
	}
	return pageRecipient(t[:], []driver.Value{v[2], v[5], v[8], v[9], v[6]}, org, "", ids)
}

// prefixed qualifies a plain comma-separated column list with an alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// RecipientCounts counts the organisation's recipients by status.
func (s *Store) RecipientCounts(ctx context.Context, orgID int64) (map[RecipientStatus]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM recipients WHERE org_id=? GROUP BY status`, orgID)
	if err != nil {
		return nil, wrapErr(err, "count recipients")
	}
	defer rows.Close()
	out := map[RecipientStatus]int64{}
	for rows.Next() {
		var st RecipientStatus
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrapErr(err, "count recipients")
		}
		out[st] = n
	}
	return out, wrapErr(rows.Err(), "count recipients")
}
