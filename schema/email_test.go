package schema

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in, email, key string
	}{
		{"jane@example.org", "jane@example.org", "jane@example.org"},
		{"Jane.Doe@Example.ORG", "Jane.Doe@Example.ORG", "jane.doe@example.org"},
		{"  jane@example.org\t", "jane@example.org", "jane@example.org"},
		{"\u00a0jane@example.org\u00a0", "jane@example.org", "jane@example.org"},
		{"\ufeffjane@example.org", "jane@example.org", "jane@example.org"},
		{"\u200bjane@exa\u200dmple.org\u200b", "jane@example.org", "jane@example.org"},
		{"jane+news@example.org", "jane+news@example.org", "jane+news@example.org"},
		{"j.a.n.e@example.org", "j.a.n.e@example.org", "j.a.n.e@example.org"},
		{"Jane Doe <Jane@Example.org>", "Jane@Example.org", "jane@example.org"},
		{`"Doe, Jane" <jane@example.org>`, "jane@example.org", "jane@example.org"},
		{"<jane@example.org>", "jane@example.org", "jane@example.org"},
		{"jane@example.org (Jane Doe)", "jane@example.org", "jane@example.org"},
		{"mailto:jane@example.org", "jane@example.org", "jane@example.org"},
		{"MAILTO:jane@example.org?subject=hi", "jane@example.org", "jane@example.org"},
		{"jürgen@bücher.example", "jürgen@bücher.example", "jürgen@xn--bcher-kva.example"},
		{"Jürgen@BÜCHER.example", "Jürgen@BÜCHER.example", "jürgen@xn--bcher-kva.example"},
		{"o'brien@example.co.uk", "o'brien@example.co.uk", "o'brien@example.co.uk"},
		{strings.Repeat("a", 64) + "@example.org", strings.Repeat("a", 64) + "@example.org", strings.Repeat("a", 64) + "@example.org"},
	}
	for _, tt := range tests {
		email, key, err := NormalizeEmail(tt.in)
		if err != nil {
			t.Errorf("NormalizeEmail(%q): %v", tt.in, err)
			continue
		}
		if email != tt.email || key != tt.key {
			t.Errorf("NormalizeEmail(%q) = %q, %q; want %q, %q", tt.in, email, key, tt.email, tt.key)
		}
		// A key is its own key: normalising twice changes nothing.
		if _, k2, err := NormalizeEmail(key); err != nil || k2 != key {
			t.Errorf("NormalizeEmail(key %q) = %q, %v", key, k2, err)
		}
	}
}

func TestNormalizeEmailRejects(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		in, why string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"jane", "no @"},
		{"jane.example.org", "no @"},
		{"@example.org", "before the @"},
		{"jane@", "after the @"},
		{"jane@doe@example.org", "more than one @"},
		{"jane@example.org; john@example.org", "more than one address"},
		{"jane doe@example.org", "space"},
		{"jane@localhost", "no dot"},
		{"jane@example..org", "misplaced dot (two in a row)"},
		{"jane@.example.org", "misplaced dot (at its start)"},
		{"jane@example.org.", "misplaced dot (at its end)"},
		{".jane@example.org", "misplaced dot (at its start)"},
		{"ja..ne@example.org", "misplaced dot (two in a row)"},
		{"jane@-example.org", "hyphen"},
		{"jane@exa_mple.org", "underscore"},
		{"jane@[192.0.2.1]", "IP address"},
		{"jane@192.0.2.1", "ends in a number"},
		{"ja,ne@example.org", "“,”"},
		{strings.Repeat("a", 65) + "@example.org", "longer than 64"},
		{"jane@" + strings.Repeat("b", 64) + ".org", "longer than 63"},
		{long + "@" + long + "." + long + "." + long + "." + long + ".org", "longer than 254"},
		{"Jane Doe", "space"},
		{"Jane <jane@>", "not an email address"},
		{"jane@exam ple.org", "not an email address"},
		// A byte that is not text ends the address inside the brackets as
		// it ends a bare one: trimmed, which leaves a dot at the end.
		{"<0@0.\x87>", "misplaced dot"},
		{"<0@0.\ufffd>", "misplaced dot"},
	}
	for _, tt := range tests {
		_, _, err := NormalizeEmail(tt.in)
		if err == nil {
			t.Errorf("NormalizeEmail(%q) accepted", tt.in)
			continue
		}
		if ErrorCodeOf(err) != EInvalid {
			t.Errorf("NormalizeEmail(%q): code %q, want invalid", tt.in, ErrorCodeOf(err))
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("NormalizeEmail(%q) = %q; want it to say %q", tt.in, err, tt.why)
		}
	}
}

func TestNormalizeEmailNoAllocForKeys(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := NormalizeEmail("jane.doe+x@example.org"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("NormalizeEmail of a lower-case address allocates %v times", allocs)
	}
}

// The decoder's cache of the last valid domain changes nothing it returns.
func TestNormalizeEmailKnownDomain(t *testing.T) {
	d := &Decoder{domain: "x.org"}
	parts := []string{"a", "B", ".", "@", "x.org", "X.ORG", "@x.org", "..", " ", "-", "é", "+tag", "<", ">", "Jane ", "mailto:"}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 50_000; i++ {
		var b strings.Builder
		for n := 1 + rng.IntN(8); n > 0; n-- {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		s := b.String()
		email, key, err := NormalizeEmail(s)
		gotEmail, gotKey, gotErr := d.normalizeEmail(s)
		if gotEmail != email || gotKey != key || (gotErr == nil) != (err == nil) || err != nil && gotErr.Error() != err.Error() {
			t.Fatalf("%q: decoder %q %q %v; NormalizeEmail %q %q %v", s, gotEmail, gotKey, gotErr, email, key, err)
		}
		d.domain = "x.org" // a valid address may have changed it
	}
}
