package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"muster/samples/gen"
)

func TestRun(t *testing.T) {
	var out, want bytes.Buffer
	if err := run([]string{"-rows", "50", "-seed", "3", "-day", "1"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := gen.Write(&want, gen.Options{Rows: 50, Seed: 3, Day: 1}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) || !strings.HasPrefix(out.String(), "Employee_ID,") {
		t.Fatalf("output differs from gen.Write:\n%s", out.String())
	}
	for _, args := range [][]string{{"-day", "2"}, {"extra"}, {"-rows", "x"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
