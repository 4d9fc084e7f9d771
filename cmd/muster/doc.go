// Command muster keeps an organisation's audience in step with its HR and
// directory systems: an SFTP drop box and watched folders for HR exports,
// WorkOS and SCIM directory sources, one SQLite audience store, a command
// line, an admin API and web console, metrics and notifications. README.md
// says how to run it; its Design section says how it is built.
//
// This package only wires and talks to the operator. The rules live
// below it: the pipeline (diff, merge, guards, apply) in ingest, the
// directory engine in ingest/directory, the store in store, the domain in
// schema; each outside technology has one package (sftpserver, the WorkOS
// client, the SCIM protocol, api for HTTP, notify for webhook, Slack and
// SMTP receivers). A second main (a test, another binary) could replace
// this one without copying a rule.
//
// The daemon is a Main: Run prepares the config (every secret and file it
// names, the same checks `muster config check` runs), then opens the parts
// in order (lock, store, notifications, SFTP server, drop queues,
// directories, SCIM, HTTP) and returns once everything listens; Close
// stops them in reverse order under a deadline. SIGINT and SIGTERM stop
// it, a second signal exits at once, SIGHUP reloads the config (Reload):
// what can change while running is swapped in, what cannot is logged as
// needing a restart, and a config with problems is refused whole.
//
// Each command of the command line is a function in its own file (check,
// ingest, drops, recipients, sources...). Every one takes -json, and under
// -json its errors are JSON too; exit codes are 0 done, 1 error, 2 wrong
// command line, 3 held, 4 refused.
package main
