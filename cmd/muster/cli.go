package main

import (
	"os/user"
	"strings"
	"time"
)

// localTime shows a stored time (RFC 3339, UTC) in the local time zone,
// to the second, for tables.
func localTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// clipText cuts s to n runes for a table cell.
func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// cliUser is who a command's writes and decisions are recorded as:
// cli:<the OS user> (cli when it cannot be told).
func cliUser(e *env) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v := e.getenv(k); v != "" {
			return "cli:" + v
		}
	}
	return "cli"
}
