// Package ingest is muster's one pipeline: every drop, whichever source it
// comes from (a CSV file, a WorkOS pull, an admin's edit), goes
//
//	decode -> validate -> diff against the source's snapshot -> guards ->
//	apply in one transaction -> report
//
// and the operations around it: approve or reject a held drop, roll a
// source back, remove a source, explain a recipient. It applies the merge
// rules of the design (README: Design) through the store's transaction methods.
package ingest

import "muster/store"

// SourceConfig is a source's settings. Command-line flags and the config
// file both fill it; it is the store's type, named here for callers.
type SourceConfig = store.SourceConfig
