package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

const webhookSecret = "whsec_e2e_secret"

// workosConfig writes a config for the real binary: the directory of the
// fake as source okta (pulled on schedule, events read every poll), and a
// folder source hr. extra is appended to [workos].
func workosConfig(t testing.TB, fake *workostest.Server, dirID, data, schedule, poll, extra string) string {
	t.Helper()
	dir := filepath.Dir(data)
	cfg := fmt.Sprintf(`data_dir = %q
[[sources]]
name = "okta"
kind = "workos"
directory_id = %q
schedule = %q
priority = 20
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
`, data, dirID, schedule, filepath.Join(dir, "hr"), fake.URL, poll) + extra
	path := filepath.Join(dir, "muster.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func workosEnv(fake *workostest.Server) []string {
	return []string{"WORKOS_API_KEY=" + fake.APIKey(), "WORKOS_WEBHOOK_SECRET=" + webhookSecret}
}

// audience is the default organisation's audience read from the store.
type audience struct {
	status map[string]store.RecipientStatus
	groups map[string][]string // email -> "source/group" of active recipients
	// members counts the members of each "source/group".
	members map[string]int64
}

func readAudience(t testing.TB, data string) audience {
	t.Helper()
	ctx := context.Background()
	a := audience{status: map[string]store.RecipientStatus{}, groups: map[string][]string{}, members: map[string]int64{}}
	st, err := store.Open(ctx, filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		return a
	}
	// The recipients first, then the groups: a drop committed between the
	// two reads then shows in the groups' member counts too (read the
	// other way, the recipients of a drop could come with the groups of
	// the state before it, no members at all).
	ids := map[string][]int64{}
	err = st.EachRecipient(ctx, org.ID, store.RecipientFilter{}, 0, func(r store.Recipient) error {
		a.status[r.Key] = r.Status
		ids[r.Key] = r.GroupIDs
		return nil
	})
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
		if g.Members > 0 {
			a.members[names[g.ID]] = g.Members
		}
	}
	for k, list := range ids {
		for _, id := range list {
			a.groups[k] = append(a.groups[k], names[id])
		}
	}
	return a
}

func (a audience) count(s store.RecipientStatus) int {
	n := 0
	for _, v := range a.status {
		if v == s {
			n++
		}
	}
	return n
}

// is reports whether email has the status and exactly these groups.
func (a audience) is(email string, s store.RecipientStatus, groups ...string) bool {
	return a.status[email] == s && slices.Equal(a.groups[email], groups)
}

// sourceDrops lists the decided drops of a source, oldest first.
func sourceDrops(t testing.TB, data, source string) []drop {
	var out []drop
	for _, d := range drops(t, data) {
		if d.Source == source {
			out = append(out, d)
		}
	}
	return out
}

func seedEmail(i int) string { return workostest.SeedEmail(i, "") }

func okta(i int) string { return "okta/" + workostest.GroupName(i) }

// TestWorkOSDirectoryFollowedByPullsEventsAndNotUndoneByACSV runs the real
// binary against the fake WorkOS: a directory of 1,000 users in 20 groups
// appears in the audience; a user made inactive, one deleted and one moved
// between groups show up after the next scheduled pull; a CSV listing the
// same people adds nobody twice and brings nobody back; then, with pulls an
// hour apart, the same kinds of change show up through the events poll.
func TestWorkOSDirectoryFollowedByPullsEventsAndNotUndoneByACSV(t *testing.T) {
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: 1000, Groups: 20})
	root := t.TempDir()
	data := filepath.Join(root, "data")
	cfg := workosConfig(t, fake, seed.Directory.ID, data, "@every 1s", "0", "")
	d := MustServe(t, data, root, workosEnv(fake), "-config", cfg)
	waitFor(t, "the start message naming the directory", func() bool {
		return strings.Contains(d.stdout.String(), "directory    "+seed.Directory.ID+" -> source okta, pulled @every 1s")
	})
	var a audience
	waitFor(t, "the directory in the audience", func() bool {
		a = readAudience(t, data)
		return a.count(store.StatusActive) == 1000
	})
	if len(a.members) != 20 {
		t.Fatalf("%d groups with members, want 20: %v", len(a.members), a.members)
	}
	for i, g := range seed.GroupIDs {
		if n := a.members[okta(i)]; n != int64(len(fake.Members(g))) {
			t.Fatalf("group %s has %d members, want %d", okta(i), n, len(fake.Members(g)))
		}
	}
	if !a.is(seedEmail(3), store.StatusActive, okta(3)) || !a.is(seedEmail(10), store.StatusActive, okta(1), okta(10)) {
		t.Fatalf("user 3 = %s %v, user 10 = %s %v", a.status[seedEmail(3)], a.groups[seedEmail(3)], a.status[seedEmail(10)], a.groups[seedEmail(10)])
	}

	// Changes in the directory show up after the next pull.
	u, g := seed.UserIDs, seed.GroupIDs
	mustDo(t, fake.DeactivateUser(u[1]), fake.DeleteUser(u[2]), fake.RemoveMember(g[3], u[3]), fake.AddMember(g[7], u[3]))
	waitFor(t, "the changes after a pull", func() bool {
		a = readAudience(t, data)
		return a.is(seedEmail(1), store.StatusOffboarded) && a.is(seedEmail(2), store.StatusOffboarded) &&
			a.is(seedEmail(3), store.StatusActive, okta(7))
	})
	if a.count(store.StatusActive) != 998 {
		t.Fatalf("%d active, want 998", a.count(store.StatusActive))
	}

	// A CSV listing the same people (the two who left included): no one is
	// added twice, and the offboarded stay out.
	var csv strings.Builder
	csv.WriteString("Email,First Name,Last Name,Groups\n")
	for i := range 1000 {
		fmt.Fprintf(&csv, "%s,First%d,Last%d,All Staff\n", strings.ToUpper(seedEmail(i)[:1])+seedEmail(i)[1:], i, i)
	}
	hr := filepath.Join(root, "hr")
	writeAtomic(t, filepath.Join(hr, "staff.csv"), csv.String())
	waitFor(t, "the CSV applied", func() bool {
		ds := sourceDrops(t, data, "hr")
		return len(ds) == 1 && ds[0].Status == "applied"
	})
	a = readAudience(t, data)
	if len(a.status) != 1000 || a.count(store.StatusActive) != 998 {
		t.Fatalf("after the CSV: %d recipients, %d active; want 1000 and 998 (one per email)", len(a.status), a.count(store.StatusActive))
	}
	if !a.is(seedEmail(1), store.StatusOffboarded) || !a.is(seedEmail(2), store.StatusOffboarded) {
		t.Fatalf("the CSV brought back %s %v / %s %v", a.status[seedEmail(1)], a.groups[seedEmail(1)], a.status[seedEmail(2)], a.groups[seedEmail(2)])
	}
	if !a.is(seedEmail(3), store.StatusActive, "hr/All Staff", okta(7)) && !a.is(seedEmail(3), store.StatusActive, okta(7), "hr/All Staff") {
		t.Fatalf("user 3 = %v", a.groups[seedEmail(3)])
	}
	d.stop()

	// `muster sources sync` pulls now, through the same config.
	cmd := exec.Command(binary, "sources", "sync", "okta", "-config", cfg, "-json")
	cmd.Env = append(os.Environ(), workosEnv(fake)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("muster sources sync: %v", err)
	}
	var rep struct {
		Decision string
		Pull     struct{ Requests, Users int }
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Pull.Users != 999 || rep.Pull.Requests == 0 ||
		(rep.Decision != "duplicate" && rep.Decision != "applied") {
		t.Fatalf("sources sync: %v\n%s", err, out)
	}

	// Pulls an hour apart now (one on start), events every second: the
	// changes arrive through the events poll.
	cfg = workosConfig(t, fake, seed.Directory.ID, data, "@every 1h", "1s", "")
	d = MustServe(t, data, root, workosEnv(fake), "-config", cfg)
	// The first poll reads from a little before the start, so it sees the
	// directory's dsync.activated, which asks for a pull: let that settle
	// (pulled, or skipped while the pull on start runs) first.
	waitFor(t, "the first poll and the pull it asks for", func() bool {
		return strings.Contains(d.stderr.String(), "trigger=events") && strings.Contains(d.stderr.String(), "trigger=start requests=")
	})
	pulls := len(sourceDrops(t, data, "okta"))
	mustDo(t, fake.DeactivateUser(u[4]), fake.DeleteUser(u[5]), fake.RemoveMember(g[6], u[6]), fake.AddMember(g[8], u[6]))
	waitFor(t, "the changes through events", func() bool {
		a = readAudience(t, data)
		return a.is(seedEmail(4), store.StatusOffboarded) && a.is(seedEmail(5), store.StatusOffboarded) &&
			slices.Contains(a.groups[seedEmail(6)], okta(8)) && !slices.Contains(a.groups[seedEmail(6)], okta(6))
	})
	ds := sourceDrops(t, data, "okta")
	for _, dr := range ds[pulls:] {
		if !strings.HasPrefix(dr.Name, "workos events") {
			t.Fatalf("drop %d %q applied the changes: only events drops expected between pulls", dr.ID, dr.Name)
		}
	}
	if len(ds) == pulls {
		t.Fatal("no events drop")
	}
	d.stop()
}

// TestWorkOSWebhookAppliesAtOnceAndRefusesForgeries: with pulls and polls an
// hour apart, only the webhook can explain a change: a signed one is applied
// before the endpoint answers, a forged one is refused with 401 and changes
// nothing, a repeat is ignored.
func TestWorkOSWebhookAppliesAtOnceAndRefusesForgeries(t *testing.T) {
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: 200, Groups: 5})
	root := t.TempDir()
	data := filepath.Join(root, "data")
	cfg := workosConfig(t, fake, seed.Directory.ID, data, "@every 1h", "1h",
		"[workos.webhook]\nlisten = \"127.0.0.1:0\"\nsecret_env = \"WORKOS_WEBHOOK_SECRET\"\n")
	MustServe(t, data, root, workosEnv(fake), "-config", cfg)
	var st struct {
		WebhookAddr string `json:"webhook_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.WebhookAddr == "" {
		t.Fatalf("serve.json: %v %s", err, b)
	}
	url := "http://" + st.WebhookAddr + "/webhooks/workos"
	waitFor(t, "the pull on start", func() bool { return readAudience(t, data).count(store.StatusActive) == 200 })
	deliver := func(id string, forge workostest.Forgery) int {
		t.Helper()
		code, err := fake.Deliver(context.Background(), workostest.Delivery{URL: url, Secret: webhookSecret, EventID: id, Forge: forge})
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	u, g := seed.UserIDs, seed.GroupIDs
	// Forged: refused, nothing changes.
	mustDo(t, fake.DeactivateUser(u[1]))
	forged := fake.LastEventID()
	for _, f := range []workostest.Forgery{workostest.ForgeWrongSecret, workostest.ForgeTamperedBody, workostest.ForgeStaleTimestamp, workostest.ForgeNoSignature} {
		if code := deliver(forged, f); code != 401 {
			t.Fatalf("forgery %d answered %d, want 401", f, code)
		}
	}
	before := drops(t, data)
	if a := readAudience(t, data); !a.is(seedEmail(1), store.StatusActive, okta(1)) {
		t.Fatalf("a forged webhook changed user 1: %s %v", a.status[seedEmail(1)], a.groups[seedEmail(1)])
	}
	// Signed: applied before the answer.
	mustDo(t, fake.RemoveMember(g[2], u[2]), fake.AddMember(g[4], u[2]))
	removed, added := fake.Events()[len(fake.Events())-2].ID, fake.LastEventID()
	for _, id := range []string{forged, removed, added} {
		if code := deliver(id, workostest.Genuine); code != 200 {
			t.Fatalf("signed webhook %s answered %d", id, code)
		}
	}
	a := readAudience(t, data)
	if !a.is(seedEmail(1), store.StatusOffboarded) || !a.is(seedEmail(2), store.StatusActive, okta(4)) {
		t.Fatalf("after signed webhooks: user 1 %s, user 2 %s %v", a.status[seedEmail(1)], a.status[seedEmail(2)], a.groups[seedEmail(2)])
	}
	after := drops(t, data)
	if len(after) != len(before)+3 {
		t.Fatalf("%d new drops, want one per applied webhook", len(after)-len(before))
	}
	// A repeat is ignored.
	if code := deliver(added, workostest.Genuine); code != 200 || len(drops(t, data)) != len(after) {
		t.Fatalf("repeated webhook: %d, %d new drops", code, len(drops(t, data))-len(after))
	}
}

func mustDo(t testing.TB, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// writeAtomic writes a file under a temporary name and renames it into
// place, as a careful admin's copy does.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
