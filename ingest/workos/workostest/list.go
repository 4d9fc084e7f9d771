package workostest

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
)

// listParams are the pagination parameters of a list request (§2.1).
type listParams struct {
	limit         int
	order         string
	before, after string
}

// parseList reads limit (default 10, 1..100), order (asc, desc or normal,
// default desc), before and after, answering 422 on a bad value.
func parseList(w http.ResponseWriter, q url.Values) (listParams, bool) {
	p := listParams{limit: 10, order: "desc", before: q.Get("before"), after: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			validationFailed(w, [2]string{"limit", "limit must be an integer between 1 and 100"})
			return p, false
		}
		p.limit = n
	}
	if v := q.Get("order"); v != "" {
		if v != "asc" && v != "desc" && v != "normal" {
			validationFailed(w, [2]string{"order", "order must be one of asc, desc, normal"})
			return p, false
		}
		p.order = v
	}
	return p, true
}

// paginate pages through ids (sorted ascending, creation order) as §2.3
// describes, comparing cursors by id so a cursor whose object was deleted
// keeps working. It returns the page in display order and the metadata
// cursors ("" for null).
func paginate(ids []string, p listParams, legacy bool) (page []string, before, after string) {
	n := len(ids)
	first := func(x string) int { return sort.SearchStrings(ids, x) } // first index with id >= x
	past := func(x string) int {
		i := first(x)
		if i < n && ids[i] == x {
			i++
		}
		return i
	} // first index with id > x
	order := p.order
	if legacy && order == "desc" {
		order = "normal"
	}
	var lo, hi int
	switch order {
	case "asc":
		switch {
		case p.after != "":
			lo = past(p.after)
			hi = min(n, lo+p.limit)
		case p.before != "":
			hi = first(p.before)
			lo = max(0, hi-p.limit)
		default:
			hi = min(n, p.limit)
		}
		page = slices.Clone(ids[lo:hi])
		if hi < n && hi > lo {
			after = ids[hi-1]
		}
		if lo > 0 && hi > lo {
			before = ids[lo]
		}
		return page, before, after
	case "desc":
		switch {
		case p.after != "":
			hi = first(p.after)
			lo = max(0, hi-p.limit)
		case p.before != "":
			lo = past(p.before)
			hi = min(n, lo+p.limit)
		default:
			hi = n
			lo = max(0, n-p.limit)
		}
	default: // normal: descending, before goes to older items, after to newer
		switch {
		case p.before != "":
			hi = first(p.before)
			lo = max(0, hi-p.limit)
		case p.after != "":
			lo = past(p.after)
			hi = min(n, lo+p.limit)
		default:
			hi = n
			lo = max(0, n-p.limit)
		}
	}
	page = slices.Clone(ids[lo:hi])
	slices.Reverse(page)
	if hi > lo {
		older, newer := "", ""
		if lo > 0 {
			older = ids[lo]
		}
		if hi < n {
			newer = ids[hi-1]
		}
		if order == "normal" {
			before, after = older, newer
		} else {
			after, before = older, newer
		}
	}
	return page, before, after
}

type metadataJSON struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

type listJSON struct {
	Object       string        `json:"object"`
	Data         any           `json:"data"`
	ListMetadata *metadataJSON `json:"list_metadata,omitempty"`
	Legacy       *metadataJSON `json:"listMetadata,omitempty"`
}

func (s *Server) writeList(w http.ResponseWriter, data any, before, after string) {
	m := &metadataJSON{Before: nullOr(before), After: nullOr(after)}
	out := listJSON{Object: "list", Data: data}
	switch s.opts.ListMetadata {
	case MetadataBoth:
		out.ListMetadata, out.Legacy = m, m
	case MetadataLegacy:
		out.Legacy = m
	default:
		out.ListMetadata = m
	}
	writeJSON(w, http.StatusOK, out)
}
