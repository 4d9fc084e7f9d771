// Package workos is muster's client for WorkOS Directory Sync: the only
// package that speaks HTTP to WorkOS. It lists directories, users, groups and
// memberships, reads the Events API, verifies signed webhooks, and turns a
// directory into a full-snapshot schema.Stream and its dsync.* events into
// Changes the pipeline applies as deltas.
//
// The wire format, pagination rules, rate limits and pitfalls it follows are
// described in the project's reference/workos-api.md; section numbers in
// comments (§2.3...) point there.
//
// Behaviour in short:
//
//   - Lists are read in pages of 100 with the order sent explicitly, following
//     list_metadata.after (or the legacy listMetadata.after) until it is null.
//     A cursor that repeats, a page of ids already seen, or a first page that
//     uses the legacy before-cursor semantics is an error: a list that may be
//     partial is never returned as complete.
//   - GET /directory_users is paced per directory (default one request every
//     300 ms, under the documented 4 requests/second).
//   - 408, 429, 500, 502, 503, 504 and network errors (including a body cut
//     short) are retried with exponential backoff and jitter, honouring
//     Retry-After in seconds or as an HTTP date, at most MaxRetries times and
//     never past the context.
//   - Errors are *schema.Error values wrapping an *APIError that carries the
//     status, WorkOS code, message and X-Request-Id.
//   - The API key is a Secret: it prints as [redacted] with every fmt verb,
//     in JSON and in slog, and the Client itself prints without it.
package workos
