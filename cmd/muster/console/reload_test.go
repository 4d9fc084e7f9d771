package console_test

import (
	"net/http"
	"strings"
	"testing"

	"muster/cmd/muster/console"
	"muster/ingest"
	"muster/store"
)

// SetSources (a config reload) changes the configured sources the pages
// show and take uploads into, without a restart.
func TestSetSourcesChangesThePages(t *testing.T) {
	r := MustRig(t)
	b := r.signIn("ada")
	if code, body := b.get("/upload"); code != http.StatusOK || strings.Contains(body, "payroll") {
		t.Fatalf("before: %d, payroll listed: %v", code, strings.Contains(body, "payroll"))
	}
	r.con.SetSources([]console.Source{
		{Org: "default", Name: "hr", Kind: store.KindFolder, Ingest: ingest.SourceConfig{Name: "hr", Kind: store.KindFolder}, MaxInvalid: 0.02},
		{Org: "default", Name: "payroll", Kind: store.KindFolder, Ingest: ingest.SourceConfig{Name: "payroll", Kind: store.KindFolder}, MaxInvalid: 0.02},
	}, nil)
	if code, body := b.get("/upload"); code != http.StatusOK || !strings.Contains(body, "payroll") {
		t.Fatalf("after: %d, payroll listed: %v", code, strings.Contains(body, "payroll"))
	}
	if code, body := b.get("/sources"); code != http.StatusOK || !strings.Contains(body, "payroll") {
		t.Fatalf("the sources page after: %d", code)
	}
}
