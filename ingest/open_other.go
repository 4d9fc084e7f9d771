//go:build !unix

package ingest

// Elsewhere OpenRegular relies on its check of the opened file alone.
const (
	oNoFollow = 0
	oNonBlock = 0
)
