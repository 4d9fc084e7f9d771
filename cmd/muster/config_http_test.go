package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"muster/cmd/muster/api"
)

func TestHTTPConfig(t *testing.T) {
	dir := t.TempDir()
	_, hash, err := api.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	write := func(body string) string {
		p := filepath.Join(dir, "muster.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// No [http]: no server.
	c, err := loadConfig(&env{getenv: func(string) string { return "" }}, write("data_dir = \"d\"\n"), "")
	if err != nil || c.HTTP.enabled {
		t.Fatalf("without [http]: enabled %v, %v", c.HTTP.enabled, err)
	}
	// An empty [http] table turns it on, on loopback.
	c, err = loadConfig(&env{getenv: func(string) string { return "" }}, write("[http]\n"), "")
	if err != nil || !c.HTTP.enabled || c.HTTP.Listen != "127.0.0.1:8080" || c.HTTP.Metrics != "open" {
		t.Fatalf("empty [http]: %+v, %v", c.HTTP, err)
	}
	upper := "[[orgs]]\nname = \"acme\"\n[http]\n[[http.tokens]]\nname = \"ops\"\norg = \"*\"\nrole = \"admin\"\nhash = \"" + hash + "\"\n" +
		"[[http.tokens]]\nname = \"bot\"\norg = \"acme\"\nrole = \"viewer\"\nhash = \"" + strings.ToUpper(hash[:7]) + hash[7:] + "\"\n"
	if _, err := loadConfig(&env{getenv: func(string) string { return "" }}, write(upper), ""); err == nil ||
		!strings.Contains(err.Error(), "http.tokens[1].hash: not a token hash") {
		t.Fatalf("a hash with an upper-case prefix: %v", err)
	}
	cases := []struct{ toml, want string }{
		{"[http]\nlisten = \"8080\"\n", "http.listen: \"8080\" is not host:port"},
		{"[http]\nmetrics = \"public\"\n", "http.metrics: \"public\" is not open or operator"},
		{"[http]\ntoken = 1\n", "unknown key http.token"},
		{"[[http.tokens]]\nname = \"a b\"\nrole = \"viewer\"\nhash = \"" + hash + "\"\n", "http.tokens[0].name"},
		{"[[http.tokens]]\nname = \"a\"\nrole = \"root\"\nhash = \"" + hash + "\"\n", "http.tokens[0].role: \"root\" is not viewer or admin"},
		{"[[http.tokens]]\nname = \"a\"\norg = \"initech\"\nrole = \"viewer\"\nhash = \"" + hash + "\"\n", "http.tokens[0].org: \"initech\" is not one of the [[orgs]]"},
		{"[[http.tokens]]\nname = \"a\"\nrole = \"viewer\"\nhash = \"mst_secret\"\n", "http.tokens[0].hash: not a token hash"},
		{"[[http.tokens]]\nname = \"a\"\nrole = \"viewer\"\nhash = \"" + hash + "\"\n[[http.tokens]]\nname = \"a\"\nrole = \"admin\"\nhash = \"" + hash + "\"\n",
			"http.tokens[1].name: \"a\" is given twice"},
		{"[[http.tokens]]\nname = \"a\"\nrole = \"viewer\"\nhash = \"" + hash + "\"\n[[http.tokens]]\nname = \"b\"\nrole = \"admin\"\nhash = \"" + hash + "\"\n",
			"http.tokens[1].hash: the same token is given twice"},
	}
	for _, tc := range cases {
		_, err := loadConfig(&env{getenv: func(string) string { return "" }}, write(tc.toml), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.toml, err, tc.want)
		}
	}
}

func TestTokenNew(t *testing.T) {
	code, out, errs := runEnv(t, nil, "token", "new", "-name", "comms", "-org", "*", "-role", "admin")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	secret := strings.TrimSpace(lines[2])
	if !strings.HasPrefix(secret, api.TokenPrefix) || !strings.Contains(out, `hash = "`+api.HashToken(secret)+`"`) ||
		!strings.Contains(out, `org  = "*"`) || !strings.Contains(out, `role = "admin"`) {
		t.Fatalf("token new printed:\n%s", out)
	}
	// The table it prints is a valid config.
	p := filepath.Join(t.TempDir(), "muster.toml")
	table := out[strings.Index(out, "[[http.tokens]]"):]
	if err := os.WriteFile(p, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(&env{getenv: func(string) string { return "" }}, p, "")
	if err != nil || !c.HTTP.enabled || len(c.HTTP.tokens()) != 1 || c.HTTP.tokens()[0].Role != api.RoleAdmin {
		t.Fatalf("the printed table: %v", err)
	}
	for _, bad := range [][]string{{"token"}, {"token", "new"}, {"token", "new", "-name", "x", "-role", "root"},
		{"token", "new", "-name", "x", "-org", "a/b"}} {
		if code, _, _ := runEnv(t, nil, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}

func TestSampleConfigHTTP(t *testing.T) {
	code, out, errs := runEnv(t, sampleSecrets(), "config", "check", "-config", "../../samples/muster.toml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "http:      listen 127.0.0.1:8080, metrics open, 1 token(s)") ||
		!strings.Contains(out, "token comms-tool: viewer, org default") {
		t.Fatalf("summary:\n%s", out)
	}
	if strings.Contains(out, "sha256:") {
		t.Fatal("the summary prints a token hash")
	}
}

// The README's demo token (samples/api.toml) is refused off loopback: its
// secret is published.
func TestDemoTokenOnlyOnLoopback(t *testing.T) {
	if api.HashToken("mst_readme-demo-token-loopback-only") != demoTokenHash {
		t.Fatal("demoTokenHash is not the hash of the README's demo token")
	}
	code, out, errs := runEnv(t, nil, "config", "check", "-config", "../../samples/api.toml")
	if code != exitOK || !strings.Contains(out, "token demo: admin, org default") {
		t.Fatalf("samples/api.toml: exit %d: %s%s", code, out, errs)
	}
	b, _ := os.ReadFile("../../samples/api.toml")
	p := filepath.Join(t.TempDir(), "api.toml")
	os.WriteFile(p, []byte(strings.Replace(string(b), `listen = "127.0.0.1:8080"`, `listen = "0.0.0.0:8080"`, 1)), 0o600)
	if code, _, errs := runEnv(t, nil, "config", "check", "-config", p); code != exitError || !strings.Contains(errs, "http.tokens[0].hash: this is the README's demo token") {
		t.Fatalf("off loopback: exit %d: %s", code, errs)
	}
}
