package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"muster/cmd/muster/api"
)

const scimHash = "sha256:3e8d25180002e597a0d539cd58cac2ea3674087fb24d057dfbe4b579f05b86f5"

func TestSCIMConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	cfg := `[scim]
listen = "0.0.0.0:9443"
[[sources]]
name = "okta"
kind = "scim"
token_hash = "` + scimHash + `"
[[sources]]
name = "entra"
kind = "scim"
mode = "full"
token_hash = "` + scimHash + `"
[[sources]]
name = "nohash"
kind = "scim"
[[sources]]
name = "hr"
kind = "folder"
folder = "hr"
token_hash = "` + scimHash + `"
`
	path := filepath.Join(dir, "muster.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runEnv(t, nil, "config", "check", "-config", path)
	if code == exitOK {
		t.Fatal("a bad scim config passed")
	}
	for _, want := range []string{
		"sources[1].mode: a scim source is written request by request",
		"sources[1].token_hash: the same token as source default/okta",
		"sources[2].token_hash: not a token hash",
		"sources[3].token_hash: only a scim source has a token",
		"scim.listen: 0.0.0.0:9443 is not a loopback address",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
}

func TestSCIMConfigCheckSummary(t *testing.T) {
	dir := t.TempDir()
	// config check reads the certificate as serve does (a missing one is
	// refused: TestConfigCheckRefusesWhatServeRefuses).
	mustCertPair(t, filepath.Join(dir, "scim.crt"), filepath.Join(dir, "scim.key"))
	cfg := "[scim]\nlisten = \"0.0.0.0:9443\"\ntls_cert_file = \"scim.crt\"\ntls_key_file = \"scim.key\"\n" +
		"[[sources]]\nname = \"okta\"\nkind = \"scim\"\ntoken_hash = \"" + scimHash + "\"\n"
	path := filepath.Join(dir, "muster.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runEnv(t, nil, "config", "check", "-config", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"default/okta: scim, delta, priority 0, authoritative true tenant URL /scim/v2/default/okta",
		"scim:      listen 0.0.0.0:9443; TLS 1.2+, certificate " + filepath.Join(dir, "scim.crt")} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestTokenNewSCIM(t *testing.T) {
	code, out, errs := runEnv(t, nil, "token", "new", "-scim", "-source", "okta", "-org", "acme")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"  mst_", "/scim/v2/acme/okta", `kind       = "scim"`, `token_hash = "sha256:`, `org        = "acme"`} {
		if !strings.Contains(out, want) {
			t.Errorf("token new -scim lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runEnv(t, nil, "token", "new", "-scim"); code == exitOK {
		t.Error("token new -scim without -source succeeded")
	}
}

// TestSCIMReloadSwapsTokens runs the daemon in-process on a plain-HTTP
// loopback SCIM listener, then gives it a config whose okta source has a
// new token and which adds a source: the old token is refused at once, the
// new one and the new source's work, and a changed listen address asks for
// a restart.
func TestSCIMReloadSwapsTokens(t *testing.T) {
	dir := t.TempDir()
	tok := func(s string) string { return api.HashToken(s) }
	write := func(extra string, listen string) string {
		cfg := fmt.Sprintf("data_dir = %q\n[scim]\nlisten = %q\n[[sources]]\nname = \"okta\"\nkind = \"scim\"\ntoken_hash = %q\n%s",
			filepath.Join(dir, "data"), listen, tok("mst_old"), extra)
		path := filepath.Join(dir, "muster.toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	m := mustDaemon(t, write("", "127.0.0.1:0"))
	base := "http://" + m.SCIMListener.Addr().String() + "/scim/v2/default/"
	get := func(source, token string) int {
		req, _ := http.NewRequest("GET", base+source+"/Users", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("okta", "mst_old"); s != 200 {
		t.Fatalf("before the reload: %d", s)
	}
	load := func(path string) *Config {
		c, err := loadConfig(&env{getenv: func(string) string { return "" }}, path, "")
		if err != nil {
			t.Fatal(err)
		}
		c.SCIM.Listen = m.Config.SCIM.Listen
		return c
	}
	path := write(fmt.Sprintf("[[sources]]\nname = \"entra\"\nkind = \"scim\"\ntoken_hash = %q\n", tok("mst_entra")), "127.0.0.1:0")
	c := load(path)
	c.Sources[0].TokenHash = tok("mst_new")
	if err := m.reloadSCIM(c); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		source, token string
		want          int
	}{{"okta", "mst_old", 401}, {"okta", "mst_new", 200}, {"entra", "mst_entra", 200}, {"entra", "mst_new", 401}} {
		if s := get(x.source, x.token); s != x.want {
			t.Errorf("after the reload, %s with %s: %d, want %d", x.source, x.token, s, x.want)
		}
	}
	c.SCIM.Listen = "127.0.0.1:1"
	if err := m.reloadSCIM(c); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("a changed listen address: %v", err)
	}
}

// mustCertPair writes a self-signed certificate and its key as PEM files.
func mustCertPair(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scim"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
