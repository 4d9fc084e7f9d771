package sftpserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"muster/schema"
)

func authorizedLine(t *testing.T, key any) string {
	t.Helper()
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func TestAccountValidation(t *testing.T) {
	ed := MustKey(t, t.TempDir(), "k").public
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ok := Account{Name: "acme-hr", Source: "hris", AuthorizedKeys: []string{ed}}
	good := []Account{
		ok,
		{Name: "b", Source: "s", AuthorizedKeys: []string{"# comment\n\n" + ed + "\n" + authorizedLine(t, ec) + "\n" + authorizedLine(t, rsa2048)}},
		{Name: "c", Source: "s", PasswordHash: testPasswordHash, AllowedNetworks: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}},
	}
	for _, a := range good {
		if _, err := compileAccounts([]Account{a}); err != nil {
			t.Errorf("%s: %v", a.Name, err)
		}
	}
	bad := map[string]struct {
		acc  Account
		want string
	}{
		"no name":        {Account{Source: "s", AuthorizedKeys: []string{ed}}, "name"},
		"path name":      {Account{Name: "../x", Source: "s", AuthorizedKeys: []string{ed}}, "name"},
		"bad org":        {Account{Name: "a", Org: "a/b", Source: "s", AuthorizedKeys: []string{ed}}, "org"},
		"no source":      {Account{Name: "a", AuthorizedKeys: []string{ed}}, "source"},
		"no credential":  {Account{Name: "a", Source: "s"}, "at least one key"},
		"garbage key":    {Account{Name: "a", Source: "s", AuthorizedKeys: []string{"ssh-ed25519 AAAAnope"}}, "authorized_keys[0]: line 1"},
		"key options":    {Account{Name: "a", Source: "s", AuthorizedKeys: []string{`from="10.0.0.1" ` + ed}}, "options"},
		"short rsa":      {Account{Name: "a", Source: "s", AuthorizedKeys: []string{authorizedLine(t, rsa1024)}}, "too short"},
		"bad hash":       {Account{Name: "a", Source: "s", PasswordHash: "plaintext"}, "password_hash"},
		"bad network":    {Account{Name: "a", Source: "s", AuthorizedKeys: []string{ed}, AllowedNetworks: []string{"10.0.0.0/33"}}, "allowed_networks[0]"},
		"negative limit": {Account{Name: "a", Source: "s", AuthorizedKeys: []string{ed}, MaxFileSize: -1}, "max_file_size"},
	}
	for name, c := range bad {
		_, err := compileAccounts([]Account{ok, c.acc})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "accounts[1]") {
			t.Errorf("%s: error %v, want one naming accounts[1] and %q", name, err, c.want)
		}
	}
	if _, err := compileAccounts([]Account{ok, ok}); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: %v", err)
	}
	m, _ := compileAccounts([]Account{ok})
	if a := m["acme-hr"]; a.Org != "default" || a.MaxFileSize != DefaultMaxFileSize {
		t.Errorf("defaults not applied: %+v", a.Account)
	}
}

func TestAllowedNetworks(t *testing.T) {
	m, err := compileAccounts([]Account{{Name: "a", Source: "s", PasswordHash: testPasswordHash,
		AllowedNetworks: []string{"192.0.2.0/24", "2001:db8::1"}}})
	if err != nil {
		t.Fatal(err)
	}
	a := m["a"]
	for ip, want := range map[string]bool{
		"192.0.2.9": true, "::ffff:192.0.2.9": true, "2001:db8::1": true,
		"192.0.3.1": false, "2001:db8::2": false, "127.0.0.1": false,
	} {
		if got := a.allows(netip.MustParseAddr(ip)); got != want {
			t.Errorf("allows(%s) = %v", ip, got)
		}
	}
}

func TestPasswordHashes(t *testing.T) {
	h, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q", h)
	}
	h2, _ := HashPassword("s3cret")
	if h == h2 {
		t.Errorf("two hashes of one password are equal: no salt")
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	for _, s := range []string{h, string(bc)} {
		p, err := parsePasswordHash(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !p.check([]byte("s3cret")) || p.check([]byte("s3cret ")) || p.check(nil) {
			t.Errorf("%s: check is wrong", s[:10])
		}
	}
	for _, s := range []string{"", "s3cret", "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaA", "$2b$04$short"} {
		if _, err := parsePasswordHash(s); err == nil {
			t.Errorf("accepted %q", s)
		}
	}
	if _, err := HashPassword(""); err == nil {
		t.Errorf("hashed an empty password")
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]bool{
		"x.csv.filepart": true, "x.PART": true, "x.csv.a1b2.partial": true, "x.tmp": true, "x.temp": true,
		".in.x.csv": true, ".hidden": true, "~lock.csv": true,
		"x.csv": false, "partial.csv": false, "tmp": false, "x.csv.gz": false, "report-temp.csv": false,
	} {
		if schema.IsTempName(name) != want {
			t.Errorf("schema.IsTempName(%q) = %v", name, !want)
		}
	}
	for name, ok := range map[string]bool{
		"export.csv": true, "Ünïcode é.csv": true, ".in.x": true,
		"": false, ".": false, "..": false, "a\\b": false, "a/b": false, "tab\t.csv": false, "x.csv.": false,
		"x.csv ": false, "bad\xff.csv": false, strings.Repeat("a", 256): false, "nul\x00": false, "c1\u0085": false,
	} {
		if (validFileName(name) == "") != ok {
			t.Errorf("validFileName(%q) = %q", name, validFileName(name))
		}
	}
	for p, want := range map[string]vpath{
		"":                  {areaRoot, ".", "/"},
		"/../..":            {areaRoot, ".", "/"},
		"x.csv":             {areaInbox, "x.csv", "/x.csv"},
		"//x.csv":           {areaInbox, "x.csv", "/x.csv"},
		"/a/../../x.csv":    {areaInbox, "x.csv", "/x.csv"},
		"/reports":          {areaReports, ".", "/reports"},
		"/reports/r.json":   {areaReports, "r.json", "/reports/r.json"},
		"/reports/../x.csv": {areaInbox, "x.csv", "/x.csv"},
		"/reportsx":         {areaInbox, "reportsx", "/reportsx"},
		"/sub/x.csv":        {areaInbox, "sub/x.csv", "/sub/x.csv"},
	} {
		if got := resolve(p); got != want {
			t.Errorf("resolve(%q) = %+v, want %+v", p, got, want)
		}
	}
}
