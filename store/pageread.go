package store

import (
	"context"
	"database/sql/driver"
	"strings"

	"muster/schema"
)

// readPage reads the page query jq (pageQuery) of a filter of that status
// and calls fn with each recipient, reused from call to call: on SQLite its
// strings are views of readRaw's buffer (readFast), and fn must copy
// (strings.Clone) what it keeps.
func (s *Store) readPage(ctx context.Context, jq joinedQuery, orgID int64, status RecipientStatus, fn func(r *Recipient) error) error {
	var ids []int64
	var r Recipient
	ncol := jq.n + 4 // nullif(email, key), attrs, the sequences
	if status == "" {
		ncol++ // the status
	}
	return s.readFast(ctx, jq, ncol, func(cols []rawCol) (bool, error) {
		ids = ids[:0]
		if !rawPageRecipient(cols, orgID, status, &ids, &r) {
			return false, nil
		}
		return true, fn(&r)
	}, func(t []string, rest []driver.Value) error {
		ids = ids[:0]
		var err error
		if r, err = pageRecipient(t, rest, orgID, status, &ids); err != nil {
			return err
		}
		return fn(&r)
	})
}

// readFast reads jq's rows, with its text values in columns of their own,
// ncol in all. On SQLite they are read through its C API (readRaw) and
// given to raw, whose views of the values are overwritten by the rows
// after them; raw says false, having done nothing, for a row whose values
// are not of the types it expects: that row and every row after it are
// given to joined as readJoined reads them, in the same snapshot. On
// PostgreSQL (and with a driver readRaw does not know) every row goes to
// joined. An error of raw or joined is returned as it is.
func (s *Store) readFast(ctx context.Context, jq joinedQuery, ncol int, raw func(cols []rawCol) (bool, error), joined func(t []string, rest []driver.Value) error) error {
	if s.d.postgres {
		return s.readJoined(ctx, jq, joined)
	}
	var fnErr error
	tried := false
	err := s.rawConn(ctx, func(qc driver.QueryerContext) error {
		q, args := jq.query(false)
		named, err := namedValues(args)
		if err != nil {
			return err
		}
		tried, err = readRaw(ctx, qc, q, named, ncol, func(cols []rawCol) error {
			ok, err := raw(cols)
			if !ok {
				return errRawShape
			}
			fnErr = err
			return err
		}, func(skip int) error {
			return s.readJoinedFrom(ctx, qc, jq, skip, func(t []string, rest []driver.Value) error {
				fnErr = joined(t, rest)
				return fnErr
			})
		})
		return err
	})
	if err == nil && !tried {
		return s.readJoined(ctx, jq, joined)
	}
	if err != nil && err == fnErr {
		return err
	}
	return wrapErr(err, "%s", jq.what)
}

// rawPageRecipient sets *r to the recipient of orgID of a row of pageQuery
// (its text columns apart) read by readRaw, for a filter of that status,
// as pageRecipient would: its strings are views of the row's bytes, its
// GroupIDs appended to *ids. False when a value is not of the column's
// type (the row is then read through the driver, whose error says which).
func rawPageRecipient(c []rawCol, orgID int64, status RecipientStatus, ids *[]int64, r *Recipient) bool {
	for _, col := range c[:4] {
		if col.typ != rawText {
			return false
		}
	}
	key := viewString(c[0].text)
	*r = Recipient{OrgID: orgID, Key: key, Email: key, FirstName: viewString(c[1].text), LastName: viewString(c[2].text), Status: status}
	switch c[4].typ {
	case rawNull:
	case rawText:
		r.Email = viewString(c[4].text)
	default:
		return false
	}
	switch c[5].typ {
	case rawNull:
	case rawText:
		attrsOf(&r.Attrs, viewString(c[5].text))
	default:
		return false
	}
	if c[6].typ != rawInt || c[7].typ != rawInt {
		return false
	}
	r.CreatedSeq, r.UpdatedSeq = c[6].i, c[7].i
	if status == "" {
		if c[8].typ != rawText {
			return false
		}
		r.Status = statusOf(c[8].text)
	}
	if g := c[3].text; len(g) > 0 {
		start := len(*ids)
		*ids = appendIDs(*ids, viewString(g))
		r.GroupIDs = (*ids)[start:len(*ids):len(*ids)]
	}
	return true
}

// statusOf is a stored status as its constant (a copy for any other).
func statusOf(b []byte) RecipientStatus {
	switch string(b) {
	case string(StatusActive):
		return StatusActive
	case string(StatusOffboarded):
		return StatusOffboarded
	case string(StatusInactive):
		return StatusInactive
	case string(StatusGone):
		return StatusGone
	}
	return RecipientStatus(b)
}

// attrsOf sets a to the stored attributes s, as decodeAttrs does, without
// a slice of them.
func attrsOf(a *schema.Attrs, s string) {
	for i := range len(a) - 1 {
		j := strings.Index(s, sep)
		if j < 0 {
			a[i] = s
			return
		}
		a[i], s = s[:j], s[j+len(sep):]
	}
	a[len(a)-1] = s
}
