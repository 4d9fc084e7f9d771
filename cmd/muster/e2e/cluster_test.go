package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/ingest/workos/workostest"
	"muster/store/storetest"
)

// The end-to-end tests of several instances need PostgreSQL: they run
// when MUSTER_TEST_POSTGRES names a server (.ci/run starts one), once.
// The rest of this package's suite runs on SQLite only (a store test and
// the pipeline's tests run on both backends; these drive the binary).

// cluster is several `muster serve` processes sharing one PostgreSQL
// schema and one folder.
type cluster struct {
	t      *testing.T
	url    string
	shared string
	work   string
	fake   *workostest.Server
	seed   workostest.SeedResult
	token  apiToken
	lease  time.Duration
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	needSFTP(t)
	if storetest.URL() == "" {
		t.Skip(storetest.Env + " is not set: several instances need a PostgreSQL server")
	}
	c := &cluster{t: t, url: storetest.NewSchema(t), shared: t.TempDir(), work: t.TempDir(), lease: 3 * time.Second}
	c.fake = workostest.Start(t, workostest.Options{})
	c.seed = c.fake.MustSeed(t, workostest.SeedSpec{Users: 50, Groups: 3})
	c.token = mustToken(t, "ops", "default", "admin")
	return c
}

// instance is one `muster serve` of the cluster.
type instance struct {
	*daemon
	name string
	cfg  string
	api  *client
}

// start starts an instance with its own data directory and config. Every
// upload is announced by the SFTP server that took it, which moves it into
// the spool at once; the watchers (which see the shared inboxes too) wait
// 30 s for a file to settle, and a rescan of the spools takes only a file
// an earlier rescan listed 5 s before, so the instance an upload went to
// is the one that takes it (the crash below needs it to be c). Which one takes a
// file never matters to what is applied.
func (c *cluster) start(name string, env ...string) *instance {
	c.t.Helper()
	data := filepath.Join(c.work, name)
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := fmt.Sprintf(`data_dir = %q
[store]
url_env = "MUSTER_STORE_URL"
shared_dir = %q
lease = %q
[watch]
debounce = "30s"
[sftp]
ban_threshold = 3
[http]
listen = "127.0.0.1:0"
[[sources]]
name = "hr"
kind = "sftp"
mode = "delta"
[[sources]]
name = "payroll"
kind = "sftp"
[[sources]]
name = "okta"
kind = "workos"
directory_id = %q
schedule = "@every 1h"
[[sftp.accounts]]
name = "hr"
source = "hr"
keys = [%q]
[[sftp.accounts]]
name = "payroll"
source = "payroll"
keys = [%q]
[workos]
api_key_env = "WORKOS_API_KEY"
base_url = %q
users_interval = "0"
events_poll = "0"
reconcile = "off"
%s
`, data, c.shared, c.lease.String(), c.seed.Directory.ID, strings.TrimSpace(string(pub)), strings.TrimSpace(string(pub)),
		c.fake.URL, c.token.table)
	path := filepath.Join(c.work, name+".toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	env = append(env, "MUSTER_STORE_URL="+c.url, "WORKOS_API_KEY="+c.fake.APIKey())
	d := MustServe(c.t, data, c.work, env, "-config", path, "-sftp", "127.0.0.1:0")
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		c.t.Fatalf("serve.json has no http_addr: %s", b)
	}
	return &instance{daemon: d, name: name, cfg: path, api: &client{t: c.t, base: "http://" + st.HTTPAddr}}
}

// role is what the instance's /readyz says of the scheduler's lease.
func (in *instance) role() (role string, age float64) {
	var ready struct {
		Scheduler struct {
			Role     string  `json:"role"`
			LeaseAge float64 `json:"lease_age_seconds"`
		} `json:"scheduler"`
	}
	code, b := in.api.do("GET", "/readyz", nil, "")
	if code != 200 && code != 503 || json.Unmarshal(b, &ready) != nil {
		in.t.Fatalf("%s /readyz: %d %s", in.name, code, b)
	}
	return ready.Scheduler.Role, ready.Scheduler.LeaseAge
}

// cli runs a muster command against the cluster's store.
func (c *cluster) cli(in *instance, args ...string) []byte {
	c.t.Helper()
	cmd := exec.Command(binary, append(args, "-config", in.cfg)...)
	cmd.Env = append(os.Environ(), "MUSTER_STORE_URL="+c.url)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("muster %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out
}

type clusterDrop struct {
	ID          int64  `json:"id"`
	Source      string `json:"source"`
	Name        string `json:"name"`
	ContentHash string `json:"content_hash"`
	Status      string `json:"status"`
	DecidedBy   string `json:"decided_by"`
}

func (c *cluster) drops(in *instance) []clusterDrop {
	var out struct{ Drops []clusterDrop }
	if err := json.Unmarshal(c.cli(in, "drops", "list", "-json", "-limit", "1000"), &out); err != nil {
		c.t.Fatal(err)
	}
	return out.Drops
}

// waitDrops waits until the store holds n drops of source, none received.
func (c *cluster) waitDrops(in *instance, source string, n int) []clusterDrop {
	c.t.Helper()
	var got []clusterDrop
	waitFor(c.t, fmt.Sprintf("%d decided drops of %s", n, source), func() bool {
		got = got[:0]
		for _, d := range c.drops(in) {
			if d.Source != source {
				continue
			}
			if d.Status == "received" {
				return false
			}
			got = append(got, d)
		}
		return len(got) >= n
	})
	if len(got) != n {
		c.t.Fatalf("%d drops of %s, want %d: %+v", len(got), source, n, got)
	}
	return got
}

// hostKeys returns the host keys an instance pinned in its known_hosts,
// without the address (each instance listens on its own port).
func hostKeys(t *testing.T, in *instance) string {
	b, err := os.ReadFile(filepath.Join(in.data, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if _, key, ok := strings.Cut(line, " "); ok {
			keys = append(keys, key)
		}
	}
	return strings.Join(keys, "\n")
}

// recipients returns every page of an instance's /v1/recipients, joined.
func (c *cluster) recipients(in *instance) []byte {
	c.t.Helper()
	var all []byte
	after := ""
	for {
		var page struct {
			Recipients json.RawMessage `json:"recipients"`
			Next       string          `json:"next"`
		}
		code, b := in.api.do("GET", "/v1/recipients?limit=1000&after="+url.QueryEscape(after), &c.token, "")
		if code != 200 || json.Unmarshal(b, &page) != nil {
			c.t.Fatalf("%s /v1/recipients: %d %s", in.name, code, b)
		}
		all = append(all, page.Recipients...)
		if page.Next == "" {
			return all
		}
		after = page.Next
	}
}

// people writes a CSV of n people from number first on, and returns its
// path.
func people(t *testing.T, dir, name string, first, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Email,First Name,Last Name\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "p%05d@cluster.example,P%d,Person\n", i, i)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTwoInstancesOnePostgres: two `muster serve` on one PostgreSQL schema
// and one shared folder. One leads (it pulls the WorkOS directory), the
// other follows; both show clients the same SSH host keys; 20 uploads
// split between their SFTP servers are each applied exactly once; both
// answer /v1/recipients alike; a held drop uploaded to one and approved on
// the other is filed once; a third instance killed in the middle of an
// apply loses and doubles nothing (another takes its file); the leader
// killed, the follower pulls within a lease and a little more.
func TestTwoInstancesOnePostgres(t *testing.T) {
	c := newCluster(t)
	a := c.start("a")
	if role, _ := a.role(); role != "leader" {
		t.Fatalf("the first instance is %q, want leader", role)
	}
	b := c.start("b")
	if role, age := b.role(); role != "follower" || age > c.lease.Seconds() {
		t.Fatalf("the second instance is %q (lease age %.1fs), want follower of a fresh lease", role, age)
	}
	// The leader pulled the directory on taking the lease; the follower did not.
	okta := c.waitDrops(a, "okta", 1)
	if okta[0].Status != "applied" {
		t.Fatalf("okta pull: %+v", okta[0])
	}
	if khA, khB := hostKeys(t, a), hostKeys(t, b); khA == "" || khA != khB {
		t.Fatalf("the instances show different host keys:\n%s\n%s", khA, khB)
	}

	// 20 uploads, 10 through each instance's SFTP server at once.
	up := t.TempDir()
	var wg sync.WaitGroup
	for k, in := range []*instance{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < 20; i += 2 {
				name := fmt.Sprintf("hr-%02d.csv", i)
				people(t, up, name, i*5, 5)
				if msg := in.sftpQuiet("hr", up, "put "+name); msg != "" {
					t.Error(msg)
				}
			}
		}()
	}
	wg.Wait()
	hr := c.waitDrops(a, "hr", 20)
	seen := map[string]int{}
	for _, d := range hr {
		if d.Status != "applied" {
			t.Errorf("drop %d %s: %s, want applied", d.ID, d.Name, d.Status)
		}
		if d.Status == "applied" {
			seen[d.Name]++
		}
	}
	for i := range 20 {
		if n := seen[fmt.Sprintf("hr-%02d.csv", i)]; n != 1 {
			t.Errorf("hr-%02d.csv applied %d times, want once", i, n)
		}
	}
	// Both answer the same audience.
	var listA, listB []byte
	waitFor(t, "both instances to list the same 150 recipients", func() bool {
		listA, listB = c.recipients(a), c.recipients(b)
		return bytes.Equal(listA, listB) && bytes.Count(listA, []byte(`"key"`)) == 150
	})
	t.Logf("20 uploads split between a and b: 20 drops applied once each; /v1/recipients alike on both (%d bytes, 150 people)", len(listA))

	// A held drop: uploaded through a, approved through b, filed once.
	b.sftp("payroll", up, "put "+people(t, up, "payroll.csv", 0, 10))
	c.waitDrops(a, "payroll", 1)
	empty := filepath.Join(up, "empty.csv")
	os.WriteFile(empty, []byte("Email,First Name,Last Name\n"), 0o640)
	a.sftp("payroll", up, "put empty.csv")
	pay := c.waitDrops(a, "payroll", 2)
	held := pay[0]
	if held.Status != "held" || held.Name != "empty.csv" {
		t.Fatalf("the header-only upload: %+v, want held", held)
	}
	b.api.want(200, "POST", fmt.Sprintf("/v1/drops/%d/approve", held.ID), &c.token, "", nil)
	archived := ""
	waitFor(t, "the approved drop filed in archive/", func() bool {
		for _, f := range files(filepath.Join(c.shared, "drops", "default", "payroll")) {
			if strings.HasPrefix(f, "archive/") && strings.HasSuffix(f, fmt.Sprintf("%d-empty.csv", held.ID)) {
				archived = f
				return true
			}
		}
		return false
	})
	filed := func() int { return strings.Count(a.stderr.String()+b.stderr.String(), "held drop decided: filed") }
	waitFor(t, "the filing logged", func() bool { return filed() > 0 })
	t.Logf("held drop %d uploaded through a, approved through b, filed once as %s", held.ID, archived)

	// Console sessions are shared: signed in at a, the cookie works at b
	// (one key in the shared folder); signed out at a, a copy of it is
	// refused at b (the sign-out is in the store).
	ca, _ := consoleSignIn(t, a.api.base, c.token, "/drops")
	au, _ := url.Parse(a.api.base)
	copied, _ := cookiejar.New(nil)
	copied.SetCookies(au, ca.Jar.Cookies(au))
	cb := &http.Client{Jar: copied, Timeout: 30 * time.Second}
	if at := landsAt(t, cb, b.api.base, "/drops"); at != "/drops" {
		t.Fatalf("a's console session at b lands at %s, want /drops", at)
	}
	if res, err := ca.PostForm(a.api.base+"/signout", nil); err != nil || res.Request.URL.Path != "/signin" {
		t.Fatalf("sign out at a: %v", err)
	} else {
		res.Body.Close()
	}
	if at := landsAt(t, cb, b.api.base, "/drops"); at != "/signin" {
		t.Fatalf("the signed-out session at b lands at %s, want /signin", at)
	}
	t.Logf("console: signed in at a, the session works at b; signed out at a, its copy is refused at b")

	// Bans are shared: an address that fails at a's login is refused by b.
	wrong := filepath.Join(t.TempDir(), "wrong")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", wrong).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	for range 3 {
		cmd := exec.Command("sftp", "-b", "-", "-P", a.port(), "-i", wrong, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
			"-o", "UserKnownHostsFile="+filepath.Join(a.data, "known_hosts"), "payroll@127.0.0.1")
		cmd.Stdin = strings.NewReader("ls\n")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("a wrong key logged in:\n%s", out)
		}
	}
	waitFor(t, "b to list a's ban", func() bool {
		_, body := b.api.do("GET", "/v1/sftp/bans", &c.token, "")
		return bytes.Contains(body, []byte(`"payroll"`))
	})
	if msg := b.sftpQuiet("payroll", up, "ls"); !strings.Contains(msg, "refused") {
		t.Fatalf("b did not refuse an account from an address a banned:\n%s", msg)
	}
	t.Logf("3 failed logins at a's SFTP server: b lists the ban and refuses the account from that address")

	// A third instance dies in the middle of an apply: nothing of it
	// stays, and another instance takes its file from the spool.
	cc := c.start("c", "MUSTER_TEST_CRASH_AT=apply-half")
	cc.sftp("hr", up, "put "+people(t, up, "big.csv", 1000, 2000))
	waitFor(t, "c to stop in the middle of the apply", func() bool {
		return strings.Contains(cc.stderr.String(), "MUSTER_TEST_CRASH_AT apply-half")
	})
	cc.kill()
	var bigs []clusterDrop
	waitFor(t, "another instance to apply big.csv", func() bool {
		bigs = bigs[:0]
		applied := 0
		for _, d := range c.drops(a) {
			if d.Name == "big.csv" {
				bigs = append(bigs, d)
				if d.Status == "applied" {
					applied++
				}
			}
		}
		return applied > 0
	})
	waitFor(t, "the interrupted drop closed", func() bool {
		for _, d := range c.drops(a) {
			if d.Name == "big.csv" && d.Status == "received" {
				return false
			}
		}
		return true
	})
	applied := 0
	for _, d := range c.drops(a) {
		if d.Name == "big.csv" && d.Status == "applied" {
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("big.csv applied %d times, want once: %+v", applied, bigs)
	}
	waitFor(t, "2150 recipients on both", func() bool {
		listA, listB = c.recipients(a), c.recipients(b)
		return bytes.Equal(listA, listB) && bytes.Count(listA, []byte(`"key"`)) == 2150
	})
	t.Logf("c killed at apply-half of big.csv (2000 rows): applied once by another instance, 2150 recipients on both")

	// The leader dies: the follower takes the lease when it lapses and
	// pulls the directory.
	pulls := c.fake.Count(workostest.CountUsers)
	killed := time.Now()
	a.kill()
	waitFor(t, "b to pull the directory", func() bool { return c.fake.Count(workostest.CountUsers) > pulls })
	took := time.Since(killed)
	if role, _ := b.role(); role != "leader" {
		t.Fatalf("b pulled but says it is %q", role)
	}
	if limit := c.lease + c.lease/3 + 3*time.Second; took > limit {
		t.Fatalf("b pulled %s after the leader died, over the lease (%s) and a little more (%s)", took, c.lease, limit)
	}
	t.Logf("leader a SIGKILLed: b led and pulled the WorkOS directory %s later (lease %s)", took.Round(time.Millisecond), c.lease)
	c.waitDrops(b, "okta", 2)
	if v := b.api.metric(&c.token, "muster_leader"); v != 1 {
		t.Fatalf("b's muster_leader = %v, want 1", v)
	}
	// Several held checks later, the approved drop is still filed once.
	if n := filed(); n != 1 {
		t.Fatalf("the approved drop was filed %d times, want once", n)
	}
}
