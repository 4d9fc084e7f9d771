package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"muster/schema"
)

// An upload (a file run through the pipeline by the console, not taken
// from a folder) is filed like a dropped file: applied under archive/, held
// under held/ and moved to archive/ once approved, each with its report;
// a source with no folder here (manual) is not filed and its file is left.
func TestFileUploadFiledLikeADroppedFile(t *testing.T) {
	ctx := context.Background()
	r := MustFiles(t, time.Hour, "hr")
	r.files.HeldCheck = time.Hour
	r.in.Observe = r.files.Observe
	r.open(t)
	upload := func(name, content string) (string, *Report) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "upload")
		writeFile(t, p, content)
		df, err := OpenFile(p, name, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer df.Close()
		d := df.Drop
		d.Org, d.Source = schema.DefaultOrg, r.files.Sources[0].Config
		rep, err := r.in.Ingest(ctx, d, Options{By: "console:ada"})
		if err != nil {
			t.Fatal(err)
		}
		return p, rep
	}
	var rows strings.Builder
	rows.WriteString("email,first_name\n")
	for i := range 10 {
		fmt.Fprintf(&rows, "p%d@example.com,P%d\n", i, i)
	}
	p, rep := upload("people.csv", rows.String())
	if rep.Decision != Applied {
		t.Fatalf("first upload: %s", rep.Decision)
	}
	if filed, err := r.files.FileUpload(ctx, "", "hr", p, "people.csv", rep); !filed || err != nil {
		t.Fatalf("file the upload: %v %v", filed, err)
	}
	day := time.Now().UTC().Format(dayLayout)
	want := func(where string, id int64, name string) {
		t.Helper()
		base := fmt.Sprintf("%s/%d-%s", day, id, name)
		waitFor(t, base+" in "+where, func() bool {
			got := " " + strings.Join(r.filed(t, "hr", where), " ") + " "
			return strings.Contains(got, " "+base+" ") && strings.Contains(got, " "+base+ReportSuffix+" ")
		})
	}
	want(archiveDir, rep.DropID, "people.csv")
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("the uploaded file is still where it was: %v", err)
	}
	// Removing 8 of 10 (over the source's 50%) is held, then approved.
	p, rep = upload("two.csv", "email,first_name\np0@example.com,P0\np1@example.com,P1\n")
	if rep.Decision != Held {
		t.Fatalf("second upload: %s", rep.Decision)
	}
	if filed, err := r.files.FileUpload(ctx, "", "hr", p, "two.csv", rep); !filed || err != nil {
		t.Fatalf("file the held upload: %v %v", filed, err)
	}
	want(heldDir, rep.DropID, "two.csv")
	if _, err := r.in.Approve(ctx, schema.DefaultOrg, rep.DropID, Options{By: "console:ada"}); err != nil {
		t.Fatal(err)
	}
	want(archiveDir, rep.DropID, "two.csv")
	if left := r.filed(t, "hr", heldDir); len(left) != 0 {
		t.Fatalf("held/ still holds %v", left)
	}
	// A manual source has no folder: not filed, the file stays.
	p = filepath.Join(t.TempDir(), "manual")
	writeFile(t, p, "x")
	if filed, err := r.files.FileUpload(ctx, "", "manual", p, "m.csv", &Report{DropID: 99}); filed || err != nil {
		t.Fatalf("a manual source's upload: filed %v, %v", filed, err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}
