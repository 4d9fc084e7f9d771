package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scimToken is a token made by `muster token new -scim`.
type scimToken struct{ secret, hash string }

func mustSCIMToken(t testing.TB, source string) scimToken {
	t.Helper()
	out := muster(t, "token", "new", "-scim", "-source", source)
	lines := strings.Split(out, "\n")
	i := strings.Index(out, `token_hash = "`)
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "mst_") || i < 0 {
		t.Fatalf("token new -scim printed:\n%s", out)
	}
	hash := out[i+len(`token_hash = "`):]
	return scimToken{secret: strings.TrimSpace(lines[2]), hash: hash[:strings.IndexByte(hash, '"')]}
}

// mustCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key into dir.
func mustCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "muster test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "scim.crt"), filepath.Join(dir, "scim.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// scimCurl drives the SCIM endpoint with curl, as an IdP would.
type scimCurl struct {
	t      testing.TB
	base   string // https://127.0.0.1:PORT/scim/v2
	cacert string
}

// do runs curl and returns the status and the decoded body; args are
// extra curl arguments.
func (c *scimCurl) do(token, method, path, body string, args ...string) (int, map[string]any) {
	c.t.Helper()
	argv := []string{"-sS", "--cacert", c.cacert, "-X", method, "-w", "\n%{http_code}", "-H", "Accept: application/scim+json"}
	if token != "" {
		argv = append(argv, "-H", "Authorization: Bearer "+token)
	}
	if body != "" {
		argv = append(argv, "-H", "Content-Type: application/scim+json", "--data-binary", body)
	}
	argv = append(append(argv, args...), c.base+path)
	out, err := exec.Command("curl", argv...).Output()
	if err != nil {
		c.t.Fatalf("curl %s %s: %v", method, path, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	status, _ := strconv.Atoi(s[i+1:])
	var m map[string]any
	if strings.TrimSpace(s[:i]) != "" {
		if err := json.Unmarshal([]byte(s[:i]), &m); err != nil {
			c.t.Fatalf("curl %s %s: not JSON: %s", method, path, s)
		}
	}
	c.t.Logf("curl -X %s %s%s -> %d", method, c.base, path, status)
	return status, m
}

func (c *scimCurl) want(status int, token, method, path, body string) map[string]any {
	c.t.Helper()
	got, m := c.do(token, method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: %d %v, want %d", method, path, got, m, status)
	}
	return m
}

// TestSCIMWithCurlOverHTTPS runs the real binary with a SCIM listener on a
// test certificate and drives it with curl: create, filter, deactivate (the
// person is offboarded everywhere and a CSV cannot bring them back), group
// add and remove, wrong and cross-source tokens refused, TLS below 1.2
// refused, operability (sources, metrics, readiness).
func TestSCIMWithCurlOverHTTPS(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	work, data := t.TempDir(), t.TempDir()
	hrDrop := filepath.Join(work, "hr-drop")
	if err := os.MkdirAll(hrDrop, 0o750); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := mustCert(t, work)
	okta, entra := mustSCIMToken(t, "okta"), mustSCIMToken(t, "entra")
	admin := mustToken(t, "ops", "default", "admin")
	cfg := fmt.Sprintf(`data_dir = %q
log_level = "debug"

[scim]
listen = "127.0.0.1:0"
tls_cert_file = %q
tls_key_file = %q

[[sources]]
name = "okta"
kind = "scim"
token_hash = %q

[[sources]]
name = "entra"
kind = "scim"
token_hash = %q

[[sources]]
name = "hr"
kind = "folder"
folder = %q

[http]
listen = "127.0.0.1:0"

%s
`, data, certFile, keyFile, okta.hash, entra.hash, hrDrop, admin.table)
	cfgPath := filepath.Join(work, "muster.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	d := MustServe(t, data, work, nil, "-config", cfgPath)
	var st struct {
		HTTPAddr string `json:"http_addr"`
		SCIMAddr string `json:"scim_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.SCIMAddr == "" {
		t.Fatalf("serve.json has no scim_addr: %s", b)
	}
	if want := "https://" + st.SCIMAddr + "/scim/v2/default/okta"; !strings.Contains(d.stdout.String(), want) {
		t.Fatalf("the start message does not give the tenant URL %s:\n%s", want, d.stdout)
	}
	c := &scimCurl{t: t, base: "https://" + st.SCIMAddr + "/scim/v2", cacert: certFile}
	api := &client{t: t, base: "http://" + st.HTTPAddr}

	// Discovery and a test connection.
	if m := c.want(200, okta.secret, "GET", "/default/okta/ServiceProviderConfig", ""); m["patch"] == nil {
		t.Fatalf("ServiceProviderConfig: %v", m)
	}
	c.want(200, okta.secret, "GET", "/default/okta/Users?startIndex=1&count=2", "")

	// Refused: no token, a wrong one, another source's, another organisation.
	for _, x := range []struct{ token, path string }{{"", "/default/okta/Users"}, {"mst_wrong", "/default/okta/Users"},
		{entra.secret, "/default/okta/Users"}, {okta.secret, "/default/entra/Users"}, {okta.secret, "/acme/okta/Users"}} {
		if m := c.want(401, x.token, "GET", x.path, ""); m["status"] != "401" {
			t.Fatalf("refusal without the error schema: %v", m)
		}
	}
	// TLS 1.1 is refused.
	if out, err := exec.Command("curl", "-sS", "--cacert", certFile, "--tls-max", "1.1", "-H", "Authorization: Bearer "+okta.secret,
		c.base+"/default/okta/Users").CombinedOutput(); err == nil {
		t.Fatalf("a TLS 1.1 connection was served: %s", out)
	}

	// A CSV source lists Ada first, in its own group.
	if err := os.WriteFile(filepath.Join(hrDrop, "hr.csv"), []byte("email,first_name,last_name,groups\n"+
		"ada@example.org,Ada,Lovelace,Payroll\nbob@example.org,Bob,Ross,Payroll\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	waitDecided(t, data, 1)

	// Twenty users created, each found by filter; the loop is the real
	// client again and again.
	ids := map[string]string{}
	for i := range 20 {
		email := fmt.Sprintf("user%02d@example.org", i)
		if i == 0 {
			email = "ada@example.org"
		}
		u := c.want(201, okta.secret, "POST", "/default/okta/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
"userName":%q,"name":{"givenName":"U%d","familyName":"Test"},"emails":[{"primary":true,"value":%q,"type":"work"}],"active":true,"password":"x"}`,
			email, i, email))
		ids[email] = u["id"].(string)
		m := c.want(200, okta.secret, "GET", "/default/okta/Users?filter=userName+eq+%22"+strings.ToUpper(email)+"%22", "")
		if m["totalResults"] != float64(1) {
			t.Fatalf("filter %s: %v", email, m)
		}
	}
	c.want(409, okta.secret, "POST", "/default/okta/Users", `{"userName":"ada@example.org"}`)

	// Group add: Ada joins Engineering.
	g := c.want(201, okta.secret, "POST", "/default/okta/Groups", `{"displayName":"Engineering","members":[]}`)
	gid := g["id"].(string)
	c.want(204, okta.secret, "PATCH", "/default/okta/Groups/"+gid, fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"id":%q,"displayName":"Engineering"}},
{"op":"add","path":"members","value":[{"value":%q},{"value":%q}]}]}`, gid, ids["ada@example.org"], ids["user01@example.org"]))
	if gs := groupsOf(api, &admin, "ada@example.org"); !slices.Equal(gs, []string{"hr/Payroll", "okta/Engineering"}) {
		t.Fatalf("Ada's groups after the add: %v", gs)
	}
	// Group remove, Okta's way.
	c.want(204, okta.secret, "PATCH", "/default/okta/Groups/"+gid, fmt.Sprintf(`{"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`,
		ids["user01@example.org"]))
	if gs := groupsOf(api, &admin, "user01@example.org"); len(gs) != 0 {
		t.Fatalf("user01's groups after the remove: %v", gs)
	}

	// Deactivate Ada: offboarded everywhere (her CSV group too).
	u := c.want(200, okta.secret, "PATCH", "/default/okta/Users/"+ids["ada@example.org"], `{"Operations":[{"op":"replace","value":{"active":false}}]}`)
	if u["active"] != false {
		t.Fatalf("deactivated user: %v", u)
	}
	if s := statusOf(api, &admin, "ada@example.org"); s != "offboarded" {
		t.Fatalf("Ada after deactivation: %s", s)
	}
	if gs := groupsOf(api, &admin, "ada@example.org"); len(gs) != 0 {
		t.Fatalf("Ada is still in %v", gs)
	}
	// A new CSV that still lists her cannot bring her back.
	if err := os.WriteFile(filepath.Join(hrDrop, "hr2.csv"), []byte("email,first_name,last_name,groups\n"+
		"ada@example.org,Ada,Lovelace,Payroll\nbob@example.org,Bob,Ross,Payroll\ncyd@example.org,Cyd,Charisse,Payroll\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second CSV", func() bool { return statusOf(api, &admin, "cyd@example.org") == "active" })
	if s := statusOf(api, &admin, "ada@example.org"); s != "offboarded" {
		t.Fatalf("Ada after a CSV lists her again: %s", s)
	}
	// The IdP still reads her as it left her.
	if m := c.want(200, okta.secret, "GET", "/default/okta/Users/"+ids["ada@example.org"], ""); m["active"] != false {
		t.Fatalf("GET after deactivation: %v", m)
	}

	// Operability: readiness names the listener; requests are counted by
	// source, method, resource and status; sources show the last request.
	var ready struct {
		Ready  bool
		Checks []struct{ Name string }
	}
	api.want(200, "GET", "/readyz", nil, "", &ready)
	if !ready.Ready || !slices.ContainsFunc(ready.Checks, func(c struct{ Name string }) bool { return c.Name == "scim" }) {
		t.Fatalf("readyz: %+v", ready)
	}
	if n := api.metric(nil, "muster_scim_requests_total", "source", "okta", "method", "POST", "resource", "Users", "code", "201"); n != 20 {
		t.Fatalf("muster_scim_requests_total{POST,Users,201} = %v, want 20", n)
	}
	var srcs struct {
		Sources []struct {
			Name string
			SCIM *struct {
				Requests, Errors int64
				LastRequest      time.Time `json:"last_request"`
			}
		}
	}
	waitFor(t, "the request statistics", func() bool {
		api.want(200, "GET", "/v1/sources", &admin, "", &srcs)
		for _, s := range srcs.Sources {
			if s.Name == "okta" && s.SCIM != nil && s.SCIM.Requests >= 50 && s.SCIM.Errors >= 3 && !s.SCIM.LastRequest.IsZero() {
				return true
			}
		}
		return false
	})
	if out := muster(t, "sources", "list", "-data", data); !strings.Contains(out, "okta: last request") {
		t.Fatalf("sources list does not show the SCIM requests:\n%s", out)
	}
	// A burst deactivating 30% of the source (6 of its 20 people, at once):
	// every answer succeeds and the resources read back inactive, but the
	// audience change that crosses the removal guard (20%) is held for an
	// admin, and what follows waits behind it; approving applies them all.
	var wg sync.WaitGroup
	for i := 2; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[fmt.Sprintf("user%02d@example.org", i)]
			if status, m := c.do(okta.secret, "PATCH", "/default/okta/Users/"+id, `{"Operations":[{"op":"replace","value":{"active":false}}]}`); status != 200 || m["active"] != false {
				t.Errorf("deactivate user%02d: %d %v", i, status, m)
			}
		}()
	}
	wg.Wait()
	var held struct {
		Drops []struct {
			ID     int64
			Source string
			Status string
		}
	}
	api.want(200, "GET", "/v1/drops?status=held", &admin, "", &held)
	if len(held.Drops) != 1 || held.Drops[0].Source != "okta" {
		t.Fatalf("held drops after the burst: %+v", held.Drops)
	}
	stillActive := 0
	for i := 2; i < 8; i++ {
		if statusOf(api, &admin, fmt.Sprintf("user%02d@example.org", i)) == "active" {
			stillActive++
		}
	}
	if stillActive == 0 {
		t.Fatal("the whole burst was applied: nothing held")
	}
	t.Logf("burst of 6 deactivations: 6 answered 200, drop %d held, %d of the 6 still active until it is approved", held.Drops[0].ID, stillActive)
	api.want(200, "POST", fmt.Sprintf("/v1/drops/%d/approve", held.Drops[0].ID), &admin, "", nil)
	waitFor(t, "the approved burst and the batches behind it", func() bool {
		for i := 2; i < 8; i++ {
			if statusOf(api, &admin, fmt.Sprintf("user%02d@example.org", i)) != "offboarded" {
				return false
			}
		}
		return true
	})

	// The log has a line per request with its id, and never a token.
	d.stop()
	logs := d.stderr.String()
	if !strings.Contains(logs, `msg="scim request"`) || !strings.Contains(logs, "id=") {
		t.Fatalf("no per-request debug log:\n%s", logs)
	}
	for _, secret := range []string{okta.secret, entra.secret, "ada@example.org\",\"name"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret or a body")
		}
	}
}

// statusOf is a recipient's status through the admin API.
func statusOf(c *client, tok *apiToken, email string) string {
	var ex struct {
		Recipient struct{ Status string }
	}
	if status, _ := c.do("GET", "/v1/recipients/"+email, tok, ""); status == 404 {
		return "none"
	}
	c.want(200, "GET", "/v1/recipients/"+email, tok, "", &ex)
	return ex.Recipient.Status
}

// groupsOf is a recipient's groups as "source/name".
func groupsOf(c *client, tok *apiToken, email string) []string {
	var ex struct {
		Groups []struct{ Source, Name string }
	}
	c.want(200, "GET", "/v1/recipients/"+email, tok, "", &ex)
	var out []string
	for _, g := range ex.Groups {
		out = append(out, g.Source+"/"+g.Name)
	}
	slices.Sort(out)
	return out
}
