package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parityRig is a config using every kind of secret and file serve reads
// before it binds (SFTP key file and password hash, WorkOS key, webhook
// secret, Slack URL, SMTP password and CA file), all present and valid.
type parityRig struct {
	dir  string
	vars map[string]string
}

func newParityRig(t *testing.T) *parityRig {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "keys"), []byte(anyPublicKey+" hr\n"), 0o600)
	return &parityRig{dir: dir, vars: map[string]string{
		"HASH":       "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$c2VjcmV0LWhhc2gtdmFsdWUtbG9uZ2Vub3VnaA",
		"WORKOS_KEY": "sk_test_parity", "WH": "whsec_parity", "SLACK": "https://hooks.slack.example/services/T/B/X",
		"SMTP_PW": "pw"}}
}

// config is the rig's config with the replacements made (old, new pairs).
func (r *parityRig) config(t *testing.T, repl ...string) string {
	t.Helper()
	s := `data_dir = "data"
[sftp]
listen = "127.0.0.1:0"
[[sftp.accounts]]
name = "hr"
source = "hr"
authorized_keys_file = "keys"
password_hash_env = "HASH"
[[sources]]
name = "hr"
kind = "sftp"
[[sources]]
name = "drop"
kind = "folder"
folder = "drop"
[[sources]]
name = "okta"
kind = "workos"
directory_id = "directory_1"
schedule = "@every 1h"
[workos]
api_key_env = "WORKOS_KEY"
base_url = "http://127.0.0.1:1"
events_poll = "0"
[workos.webhook]
listen = "127.0.0.1:0"
secret_env = "WH"
[http]
listen = "127.0.0.1:0"
[[notify]]
name = "slack"
kind = "slack"
url_env = "SLACK"
[[notify]]
name = "mail"
kind = "email"
smtp = "127.0.0.1:25"
from = "muster@example.com"
to = ["ops@example.com"]
username = "muster"
password_env = "SMTP_PW"
ca_file = "ca.pem"
`
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("the rig's config has no %q", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	p := filepath.Join(r.dir, "muster.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve runs `muster serve` in-process for at most d, and returns its exit
// code and stderr.
func (r *parityRig) serve(p string, vars map[string]string, d time.Duration) (int, string, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	start := time.Now()
	code := run(ctx, e, []string{"serve", "-config", p})
	return code, errb.String(), time.Since(start)
}

// TestConfigCheckRefusesWhatServeRefuses: for each thing serve refuses
// before it binds, `muster config check` refuses too, naming the same
// field (and -json lists it as a problem); the rig's config, unbroken,
// passes the check and serve starts with it.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	r := newParityRig(t)
	p := r.config(t)
	if code, out, errs := runEnv(t, r.vars, "config", "check", "-config", p); code != exitOK || !strings.HasPrefix(out, "config ok") {
		t.Fatalf("the rig's config: exit %d: %s%s", code, out, errs)
	}
	if code, errs, _ := r.serve(p, r.vars, 2*time.Second); code != exitOK {
		t.Fatalf("serve refused the rig's config: exit %d: %s", code, errs)
	}
	unset := func(k string) map[string]string {
		v := map[string]string{}
		for a, b := range r.vars {
			if a != k {
				v[a] = b
			}
		}
		return v
	}
	with := func(k, val string) map[string]string {
		v := unset(k)
		v[k] = val
		return v
	}
	os.WriteFile(filepath.Join(r.dir, "afile"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(r.dir, "badkeys"), []byte("ssh-dss AAAAB3NzaC1kc3MAAACBAP hr\n"), 0o600)
	cases := []struct {
		name  string
		repl  []string
		vars  map[string]string
		field string
	}{
		{"WorkOS key not set", nil, unset("WORKOS_KEY"), "workos.api_key_env"},
		{"WorkOS key file missing", []string{`api_key_env = "WORKOS_KEY"`, `api_key_file = "nope"`}, r.vars, "workos.api_key_file"},
		{"webhook secret not set", nil, unset("WH"), "workos.webhook.secret_env"},
		{"password hash not set", nil, unset("HASH"), "sftp.accounts[0].password_hash_env"},
		{"password hash not a hash", nil, with("HASH", "hunter2"), "sftp.accounts[0].password_hash_env"},
		{"key file missing", []string{`authorized_keys_file = "keys"`, `authorized_keys_file = "nokeys"`}, r.vars, "sftp.accounts[0].authorized_keys_file"},
		{"key file with a refused key", []string{`authorized_keys_file = "keys"`, `authorized_keys_file = "badkeys"`}, r.vars, "sftp.accounts[0].authorized_keys_file"},
		{"sftp port out of range", []string{`listen = "127.0.0.1:0"`, `listen = "127.0.0.1:99999"`}, r.vars, "sftp.listen"},
		{"http port not a number", []string{"[http]\nlisten = \"127.0.0.1:0\"", "[http]\nlisten = \"127.0.0.1:x8\""}, r.vars, "http.listen"},
		{"webhook port out of range", []string{"[workos.webhook]\nlisten = \"127.0.0.1:0\"", "[workos.webhook]\nlisten = \"127.0.0.1:70000\""}, r.vars, "workos.webhook.listen"},
		{"data dir is a file", []string{`data_dir = "data"`, `data_dir = "afile"`}, r.vars, "data_dir"},
		{"folder under a file", []string{`folder = "drop"`, `folder = "afile/drop"`}, r.vars, "sources[1].folder"},
		{"Slack URL not set", nil, unset("SLACK"), "notify[0].url_env"},
		{"Slack URL not a URL", nil, with("SLACK", "hooks.slack.example"), "notify[0].url_env"},
		{"SMTP password not set", nil, unset("SMTP_PW"), "notify[1].password_env"},
		{"CA file missing", []string{`ca_file = "ca.pem"`, `ca_file = "none.pem"`}, r.vars, "notify[1].ca_file"},
		{"CA file not PEM", []string{`ca_file = "ca.pem"`, `ca_file = "afile"`}, r.vars, "notify[1].ca_file"},
		{"SCIM certificate missing", []string{"[http]\n", "[scim]\nlisten = \"127.0.0.1:0\"\ntls_cert_file = \"none.pem\"\ntls_key_file = \"none.key\"\n[http]\n",
			"[[sources]]\nname = \"hr\"", "[[sources]]\nname = \"scim\"\nkind = \"scim\"\ntoken_hash = \"sha256:" + strings.Repeat("ab", 32) + "\"\n[[sources]]\nname = \"hr\""},
			r.vars, "scim.tls_cert_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := r.config(t, tc.repl...)
			code, out, errs := runEnv(t, tc.vars, "config", "check", "-config", p)
			if code != exitError || strings.Contains(out, "config ok") || !strings.Contains(errs, tc.field+": ") {
				t.Errorf("config check: exit %d, stdout %q, stderr %q; want exit 1 naming %s", code, out, errs, tc.field)
			}
			code, out, errs = runEnv(t, tc.vars, "config", "check", "-json", "-config", p)
			var je jsonError
			if err := json.Unmarshal([]byte(errs), &je); err != nil || code != exitError || out != "" {
				t.Errorf("config check -json: exit %d, stdout %q, stderr %q", code, out, errs)
			} else if !hasProblem(je.Error.Problems, tc.field) || je.Error.Code != "invalid" {
				t.Errorf("config check -json: %+v lacks %s", je.Error, tc.field)
			}
			scode, serrs, took := r.serve(p, tc.vars, 20*time.Second)
			if scode != exitError || !strings.Contains(serrs, tc.field+": ") || took > 15*time.Second {
				t.Errorf("serve: exit %d after %s, stderr %q; want it refused at once naming %s", scode, took, serrs, tc.field)
			}
		})
	}
}

func hasProblem(ps []FieldProblem, field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}
