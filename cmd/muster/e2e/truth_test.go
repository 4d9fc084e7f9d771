package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"muster/ingest/workos/workostest"
	"muster/store"
)

// twoDirectories seeds the fake with the issue 11 scenario: directory A
// (Okta) of 100 users, and directory B (Google Workspace) of 60 that
// shares 25 of them with A (5 of those written in other letter case, 3
// inactive in B while active in A), under other first names.
type twoDirectories struct {
	fake   *workostest.Server
	a      workostest.SeedResult
	b      workostest.SeedResult
	bUsers []string
}

func mustTwoDirectories(t *testing.T) *twoDirectories {
	t.Helper()
	fake := workostest.Start(t, workostest.Options{})
	td := &twoDirectories{fake: fake}
	td.a = fake.MustSeed(t, workostest.SeedSpec{Users: 100, Groups: 4, Directory: workostest.DirectorySpec{Name: "Okta"}})
	td.b = fake.MustSeed(t, workostest.SeedSpec{Groups: 1, Directory: workostest.DirectorySpec{Name: "Google Workspace"}})
	for i := range 60 {
		email := fmt.Sprintf("g.only%03d@example.org", i)
		if i < 25 {
			email = seedEmail(i)
			if i >= 20 { // the same address in other letter case
				email = strings.ToUpper(email[:1]) + email[1:4] + strings.ToUpper(email[4:])
			}
		}
		state := "active"
		if i < 3 {
			state = "inactive"
		}
		u, err := fake.CreateUser(td.b.Directory.ID, workostest.UserSpec{Email: email, FirstName: fmt.Sprintf("G%d", i),
			LastName: "Google", State: state})
		if err != nil {
			t.Fatal(err)
		}
		td.bUsers = append(td.bUsers, u.ID)
		if err := fake.AddMember(td.b.GroupIDs[0], u.ID); err != nil {
			t.Fatal(err)
		}
	}
	return td
}

// config writes a config following both directories (okta and google,
// same priority), a folder source hr, and extra.
func (td *twoDirectories) config(t *testing.T, root, poll, extra string) (cfg, data string) {
	t.Helper()
	data = filepath.Join(root, "data")
	cfg = filepath.Join(root, "muster.toml")
	text := fmt.Sprintf(`data_dir = %q
[[sources]]
name = "okta"
kind = "workos"
directory_id = %q
schedule = "@every 1h"
[[sources]]
name = "google"
kind = "workos"
directory_id = %q
schedule = "@every 1h"
[[sources]]
name = "hr"
kind = "folder"
folder = %q
[watch]
debounce = "100ms"
[workos]
api_key_env = "WORKOS_API_KEY"
base_url = %q
users_interval = "0"
events_poll = %q
reconcile = "off"
`, data, td.a.Directory.ID, td.b.Directory.ID, filepath.Join(root, "hr"), td.fake.URL, poll) + extra
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, data
}

// audienceLines describes every recipient of the default organisation: address
// as written, names, status, groups.
func audienceLines(t testing.TB, data string) (lines []string, active int) {
	t.Helper()
	ctx := context.Background()
	st, org, err := dataStore(t, data)
	defer st.Close()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := st.Groups(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	names := map[int64]string{}
	for _, g := range gs {
		names[g.ID] = g.SourceName + "/" + g.Name
	}
	err = st.EachRecipient(ctx, org.ID, store.RecipientFilter{}, 0, func(r store.Recipient) error {
		var groups []string
		for _, id := range r.GroupIDs {
			groups = append(groups, names[id])
		}
		sort.Strings(groups)
		lines = append(lines, fmt.Sprintf("%s <%s> %s %s %s %v", r.Key, r.Email, r.FirstName, r.LastName, r.Status, groups))
		if r.Status == store.StatusActive {
			active++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines, active
}

func (td *twoDirectories) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), workosEnv(td.fake)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("muster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestTwoDirectoriesAnyOrderSameAudience is issue 11's scenario with the
// real binary: two directories that share 25 people (5 in other letter
// case, 3 inactive in one and active in the other), pulled one after the
// other in both orders (`muster sources sync`) and concurrently (the
// daemon's pulls on start), give the same audience, with the expected
// count; then a CSV listing directory people changes no name and adds only
// its own group; an email-less user's event beside a deactivation applies
// the deactivation (no rejected drop, no pull); deleting a quarter of a
// directory through events is held as one drop, later events wait, and all
// apply in order once approved (from another process); a storm of 500s
// shows the source failing, with the error, in `sources list`,
// /v1/sources and /readyz, then ok after recovery.
func TestTwoDirectoriesAnyOrderSameAudience(t *testing.T) {
	td := mustTwoDirectories(t)
	var audiences [][]string
	for _, order := range [][]string{{"okta", "google"}, {"google", "okta"}} {
		cfg, data := td.config(t, t.TempDir(), "0", "")
		for _, src := range order {
			td.run(t, "sources", "sync", src, "-config", cfg)
		}
		lines, active := audienceLines(t, data)
		t.Logf("pulled %s then %s: %d recipients, %d active", order[0], order[1], len(lines), active)
		if active != 135 || len(lines) != 135 {
			t.Fatalf("order %v: %d recipients, %d active; want 135 and 135 (100 + 35, the 25 shared once)", order, len(lines), active)
		}
		audiences = append(audiences, lines)
	}
	admin := mustToken(t, "ops-admin", "default", "admin")
	root := t.TempDir()
	cfg, data := td.config(t, root, "1s", "\n[http]\nlisten = \"127.0.0.1:0\"\n\n"+admin.table)
	d := MustServe(t, data, root, workosEnv(td.fake), "-config", cfg)
	waitFor(t, "both pulls on start, then a poll of events", func() bool {
		n := 0
		for _, dr := range drops(t, data) {
			if strings.HasPrefix(dr.Name, "workos pull") && dr.Status == "applied" {
				n++
			}
		}
		return n >= 2 && strings.Contains(d.stderr.String(), "workos events read")
	})
	// (The fake's directories were made seconds before: their events are
	// read again, and their dsync.activated asks for pulls; nothing moves.)
	settled := func() []drop {
		var ds []drop
		waitFor(t, "no drop for a second", func() bool {
			a := drops(t, data)
			time.Sleep(time.Second)
			ds = drops(t, data)
			return len(a) == len(ds)
		})
		return ds
	}
	settled()
	lines, active := audienceLines(t, data)
	t.Logf("pulled concurrently by the daemon: %d recipients, %d active", len(lines), active)
	audiences = append(audiences, lines)
	for i, a := range audiences[1:] {
		if !slices.Equal(a, audiences[0]) {
			t.Fatalf("audience %d differs from the first:\n%s\n---\n%s", i+1, strings.Join(a, "\n"), strings.Join(audiences[0], "\n"))
		}
	}
	// The shared people active in both get the first of the two
	// directories' values in the fixed order (google before okta); those
	// inactive in google keep okta's; the address as written is google's.
	for _, want := range []string{
		"user000001@example.com <user000001@example.com> First1 Last1 active [okta/Sales]",
		"user000005@example.com <user000005@example.com> G5 Google active [google/Engineering okta/Sales]",
		"user000021@example.com <User000021@EXAMPLE.COM> G21 Google active [google/Engineering okta/Sales]",
	} {
		if !slices.Contains(lines, want) {
			t.Fatalf("no %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	c := &client{t: t, base: "http://" + readState(t, data).HTTPAddr}

	// A CSV of the same priority listing directory people: no name changes,
	// only its own group is added, nobody is added twice.
	var csv strings.Builder
	csv.WriteString("Email,First Name,Last Name,Groups\n")
	for _, i := range []int{0, 5, 21, 40} {
		fmt.Fprintf(&csv, "%s,HR%d,Payroll,All Staff\n", strings.ToUpper(seedEmail(i)), i)
	}
	writeAtomic(t, filepath.Join(root, "hr", "staff.csv"), csv.String())
	waitFor(t, "the CSV applied", func() bool {
		ds := sourceDrops(t, data, "hr")
		return len(ds) == 1 && ds[0].Status == "applied"
	})
	after, n := audienceLines(t, data)
	if len(after) != 135 || n != 135 {
		t.Fatalf("after the CSV: %d recipients, %d active", len(after), n)
	}
	for _, want := range []string{
		"user000005@example.com <user000005@example.com> G5 Google active [google/Engineering hr/All Staff okta/Sales]",
		"user000040@example.com <user000040@example.com> First40 Last40 active [hr/All Staff okta/Engineering]",
	} {
		if !slices.Contains(after, want) {
			t.Fatalf("no %q after the CSV:\n%s", want, strings.Join(after, "\n"))
		}
	}

	// An email-less user's event beside a deactivation.
	pulls := len(sourceDrops(t, data, "okta"))
	if _, err := td.fake.CreateUser(td.a.Directory.ID, workostest.UserSpec{FirstName: "Build", LastName: "Bot", State: "active"}); err != nil {
		t.Fatal(err)
	}
	mustDo(t, td.fake.DeactivateUser(td.a.UserIDs[60]))
	waitFor(t, "the deactivation through events", func() bool {
		a := readAudience(t, data)
		return a.is(seedEmail(60), store.StatusOffboarded)
	})
	for _, dr := range sourceDrops(t, data, "okta")[pulls:] {
		if dr.Status == "rejected" || strings.HasPrefix(dr.Name, "workos pull") {
			t.Fatalf("drop %d %q %s: want only applied events drops", dr.ID, dr.Name, dr.Status)
		}
	}

	// A quarter of okta deleted user by user, read by one poll (the Events
	// API is down while it happens): held as one drop.
	td.fake.AddFault(workostest.Fault{Path: "/events", Status: 503})
	for i := 70; i < 95; i++ {
		mustDo(t, td.fake.DeleteUser(td.a.UserIDs[i]))
	}
	before := len(sourceDrops(t, data, "okta"))
	td.fake.ClearFaults()
	var held drop
	waitFor(t, "the deletions held", func() bool {
		ds := sourceDrops(t, data, "okta")
		if len(ds) > before {
			held = ds[len(ds)-1]
		}
		return held.Status == "held"
	})
	var shown struct {
		Report struct {
			Reason string
			Counts struct{ Removed int }
		}
		Changes []struct{ Op, Key string }
	}
	if err := json.Unmarshal([]byte(muster(t, "drops", "show", fmt.Sprint(held.ID), "-json", "-data", data)), &shown); err != nil {
		t.Fatal(err)
	}
	// Its diff, as an admin reviews it.
	c.want(200, "GET", fmt.Sprintf("/v1/drops/%d/changes?limit=100", held.ID), &admin, "", &shown)
	if len(sourceDrops(t, data, "okta")) != before+1 || shown.Report.Counts.Removed != 25 || len(shown.Changes) != 25 ||
		!strings.Contains(shown.Report.Reason, "it would remove 25 people") {
		t.Fatalf("held: %+v %+v (%d new drops)", held, shown, len(sourceDrops(t, data, "okta"))-before)
	}
	t.Logf("held drop %d: %s", held.ID, shown.Report.Reason)
	// Later events wait behind it.
	if _, err := td.fake.UpdateUser(td.a.UserIDs[50], func(u *workostest.User) { u.FirstName = "Renamed" }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rename queued", func() bool {
		var list struct {
			Sources []struct {
				Name          string
				QueuedBatches int `json:"queued_batches"`
				State         string
			}
		}
		json.Unmarshal([]byte(muster(t, "sources", "list", "-json", "-data", data)), &list)
		for _, s := range list.Sources {
			if s.Name == "okta" {
				return s.QueuedBatches == 1 && s.State == "held"
			}
		}
		return false
	})
	if a := readAudience(t, data); a.status[seedEmail(70)] != store.StatusActive {
		t.Fatalf("user 70 = %s %v while held", a.status[seedEmail(70)], a.groups[seedEmail(70)])
	}
	muster(t, "drops", "approve", fmt.Sprint(held.ID), "-data", data)
	waitFor(t, "the queued rename applied after the approval", func() bool {
		lines, _ := audienceLines(t, data)
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, seedEmail(50)+" <"+seedEmail(50)+"> Renamed ") })
	})
	a := readAudience(t, data)
	for i := 70; i < 95; i++ {
		if !a.is(seedEmail(i), store.StatusOffboarded) {
			t.Fatalf("user %d = %s after the approval", i, a.status[seedEmail(i)])
		}
	}

	// A storm of 500s: failing, with the error, everywhere; ok after.
	td.fake.AddFault(workostest.Fault{Path: "/directories/*", Status: 500})
	c.want(202, "POST", "/v1/sources/okta/sync", &admin, "", nil)
	type health struct {
		Name                string
		State               string
		LastError           string `json:"last_error"`
		ConsecutiveFailures int    `json:"consecutive_failures"`
		LastAttempt         string `json:"last_attempt"`
		LastSuccess         string `json:"last_success"`
		NextRun             string `json:"next_run"`
	}
	okta := func() health {
		var list struct{ Sources []health }
		if err := json.Unmarshal([]byte(muster(t, "sources", "list", "-json", "-data", data)), &list); err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Sources {
			if s.Name == "okta" {
				return s
			}
		}
		t.Fatal("no okta in sources list")
		return health{}
	}
	waitFor(t, "okta failing", func() bool { return okta().State == "failing" })
	h := okta()
	if !strings.Contains(h.LastError, "500") || h.ConsecutiveFailures != 1 || h.LastAttempt == "" || h.NextRun == "" {
		t.Fatalf("sources list: %+v", h)
	}
	t.Logf("sources list -json, okta during the storm: %+v", h)
	text := muster(t, "sources", "list", "-data", data)
	if !strings.Contains(text, "failing") || !strings.Contains(text, "okta: last error:") {
		t.Fatalf("sources list:\n%s", text)
	}
	t.Logf("sources list during the storm:\n%s", text)
	// The console's Overview shows the same health: failing, the error,
	// and when the scheduler pulls next.
	row := healthRow(t, consolePage(t, c.base, admin, "/"), "okta")
	if len(row) != 9 || row[2] != "failing" || !strings.Contains(row[5], "500") || row[6] == "—" || row[6] == "" || row[4] == "" {
		t.Fatalf("the console's Overview row of okta during the storm: %q", row)
	}
	t.Logf("console Overview, okta during the storm: %q", row)
	var src struct{ Source health }
	c.want(200, "GET", "/v1/sources/okta", &admin, "", &src)
	if src.Source.State != "failing" || !strings.Contains(src.Source.LastError, "500") {
		t.Fatalf("/v1/sources/okta: %+v", src.Source)
	}
	code, body := c.do("GET", "/readyz", nil, "")
	if code != 503 || !strings.Contains(string(body), "default/okta") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	td.fake.ClearFaults()
	c.want(202, "POST", "/v1/sources/okta/sync", &admin, "", nil)
	waitFor(t, "okta ok again", func() bool { return okta().State == "ok" })
	src.Source = health{}
	c.want(200, "GET", "/v1/sources/okta", &admin, "", &src)
	if src.Source.State != "ok" || src.Source.LastError != "" {
		t.Fatalf("/v1/sources/okta after recovery: %+v", src.Source)
	}
	waitFor(t, "readyz ok", func() bool { code, _ := c.do("GET", "/readyz", nil, ""); return code == 200 })
	d.stop()
}

// readState reads the daemon's serve.json.
func readState(t testing.TB, data string) struct {
	HTTPAddr string `json:"http_addr"`
} {
	t.Helper()
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, err := os.ReadFile(filepath.Join(data, "serve.json"))
	if err != nil || json.Unmarshal(b, &st) != nil {
		t.Fatalf("serve.json: %v %s", err, b)
	}
	return st
}
