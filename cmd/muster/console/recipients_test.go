package console_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"muster/cmd/muster/console"
)

var furtherRE = regexp.MustCompile(`<a href="(/recipients\?[^"]*)" rel="next">Search further</a>`)

// A search that matches few people looks at a window of recipients at a
// time and, its budget spent, answers with what it found so far and a
// "Search further" link that goes on from where it stopped: following the
// links finds the one match, and the last page says nobody else matches.
// Without the bound, the same search finds it on its first page.
func TestSearchAnswersWithinItsWindowAndGoesOn(t *testing.T) {
	r := MustRig(t, func(c *console.Config) { c.SearchWindow, c.SearchBudget = 7, time.Nanosecond })
	r.ingest("default", "hr", people(0, 40, "Sales")...)
	r.ingest("default", "crm", people(100, 2, "Customers")...)
	b := r.signIn("ada")
	path, pages := "/recipients?q=FIRST37", 0
	for {
		pages++
		code, body := b.get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		m := furtherRE.FindStringSubmatch(body)
		if strings.Contains(body, "p37@example.com") {
			if pages < 3 {
				t.Fatalf("found on page %d: the window of 7 was not applied", pages)
			}
			break
		}
		if m == nil || !strings.Contains(body, "stopped to answer quickly") {
			t.Fatalf("page %d (%s) neither holds the match nor says it stopped:\n%s", pages, path, body)
		}
		if pages > 10 {
			t.Fatalf("no match after %d pages", pages)
		}
		path = html.UnescapeString(m[1])
	}
	t.Logf("found on page %d", pages)

	// Unbounded, the first page holds it and nothing says it stopped.
	r2 := MustRig(t)
	r2.ingest("default", "hr", people(0, 40, "Sales")...)
	_, body := r2.signIn("ada").get("/recipients?q=FIRST37")
	if !strings.Contains(body, "p37@example.com") || strings.Contains(body, "Search further") {
		t.Fatalf("unbounded search:\n%s", body)
	}

	// The source filter alone lists the people that source lists now.
	_, body = b.get("/recipients?source=crm")
	if !strings.Contains(body, "p100@example.com") || !strings.Contains(body, "p101@example.com") || strings.Contains(body, "p1@example.com") {
		t.Fatalf("source=crm:\n%s", body)
	}
}
