package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium (CI installs it), or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MUSTER_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium): the console's browser tests are skipped")
	return ""
}

// tab is the one browser the console tests share, with where screenshots
// go (MUSTER_SCREENSHOTS, else a temporary folder).
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string
}

func newTab(t *testing.T, base string) *tab {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// The browser starts with the first run, bound to the context of that
	// run: start it on the long-lived one, not on a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	shot := os.Getenv("MUSTER_SCREENSHOTS")
	if shot == "" {
		shot = t.TempDir()
	} else if err := os.MkdirAll(shot, 0o750); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shot)
	return &tab{t: t, ctx: ctx, base: base, shot: shot}
}

// do runs browser steps with a deadline; a failure stops the test with a
// screenshot of where it stood.
func (b *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot(t, "failed-"+strings.ReplaceAll(t.Name(), "/", "-"))
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("browser at %s: %v\npage text:\n%s", loc, err, body)
	}
}

func (b *tab) open(t *testing.T, path string) {
	t.Helper()
	b.do(t, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("footer")))
}

// text returns the visible text of the first element matching css.
func (b *tab) text(t *testing.T, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

// count counts the elements matching css (0 without waiting).
func (b *tab) count(t *testing.T, css string) int {
	t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// screenshot saves the whole page as name.png (PNG: quality 100).
func (b *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o640); err != nil {
		t.Fatal(err)
	}
}

// signIn signs in with a token's secret from the sign-in page.
func (b *tab) signIn(t *testing.T, tok apiToken) {
	t.Helper()
	b.open(t, "/signin")
	b.signInHere(t, tok)
}

// signInHere signs in on the sign-in page the browser shows.
func (b *tab) signInHere(t *testing.T, tok apiToken) {
	t.Helper()
	b.do(t, chromedp.SendKeys(chromedp.CSS("#token"), tok.secret), chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=Main]")))
}

func (b *tab) signOut(t *testing.T) {
	t.Helper()
	b.do(t, chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#token")))
}

// noConfirm answers the page's confirmation dialogs with yes.
func noConfirm() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("window.confirm = function () { return true; }; true")(ctx, t)
		return err
	})
}

// consoleRig starts muster with two organisations, a folder source in
// each and a manual one, and the admin HTTP server.
type consoleRig struct {
	data, drop, otherDrop, work string
	admin, viewer, other        apiToken
	base                        string
}

func startConsole(t *testing.T) *consoleRig {
	work := t.TempDir()
	r := &consoleRig{work: work, data: filepath.Join(work, "data"), drop: filepath.Join(work, "drop"), otherDrop: filepath.Join(work, "other")}
	for _, d := range []string{r.drop, r.otherDrop} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	r.admin = mustToken(t, "ada", "default", "admin")
	r.viewer = mustToken(t, "vic", "default", "viewer")
	r.other = mustToken(t, "oscar", "globex", "admin")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "data_dir = %q\n\n[[orgs]]\nname = \"default\"\n[[orgs]]\nname = \"globex\"\n\n", r.data)
	fmt.Fprintf(&cfg, "[[sources]]\nname = \"hr\"\nkind = \"folder\"\nfolder = %q\n\n", r.drop)
	fmt.Fprintf(&cfg, "[[sources]]\nname = \"manual\"\nkind = \"manual\"\n\n")
	fmt.Fprintf(&cfg, "[[sources]]\nname = \"hr\"\norg = \"globex\"\nkind = \"folder\"\nfolder = %q\n\n", r.otherDrop)
	fmt.Fprintf(&cfg, "[http]\nlisten = \"127.0.0.1:0\"\n\n")
	for _, tok := range []apiToken{r.admin, r.viewer, r.other} {
		cfg.WriteString(tok.table + "\n")
	}
	path := filepath.Join(work, "muster.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	MustServe(t, r.data, work, nil, "-config", path)
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(r.data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		t.Fatalf("serve.json has no http_addr: %s", b)
	}
	r.base = "http://" + st.HTTPAddr
	return r
}

// dropStatus reads a drop's status through the CLI.
func dropStatus(t *testing.T, data string, id int64) string {
	t.Helper()
	for _, d := range drops(t, data) {
		if d.ID == id {
			return d.Status
		}
	}
	return ""
}

// TestConsoleInBrowser drives the console of the real binary in Chromium,
// as the people who decide use it.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	r := startConsole(t)
	// Drop 1: 60 people, applied. Drops 2 and 3: 10 and 5 of them, both
	// held (each would remove more than 20%).
	writeCSV(t, r.drop, "day1.csv", "example.com", 60)
	waitDecided(t, r.data, 1)
	writeCSV(t, r.drop, "day2.csv", "example.com", 10)
	waitDecided(t, r.data, 2)
	writeCSV(t, r.drop, "day3.csv", "example.com", 5)
	ds := waitDecided(t, r.data, 3)
	if ds[1].Status != "held" || ds[2].Status != "held" {
		t.Fatalf("drops: %+v, want 2 and 3 held", ds)
	}
	held, other := ds[1].ID, ds[2].ID
	b := newTab(t, r.base)

	t.Run("sign in", func(t *testing.T) {
		b.open(t, "/drops")
		b.do(t, chromedp.WaitVisible(chromedp.CSS("#token"))) // redirected to sign in
		b.screenshot(t, "01-signin")
		b.signInHere(t, r.admin)
		if h := b.text(t, "h1"); h != "Drops" {
			t.Fatalf("after sign-in: %q, want the page asked for (Drops)", h)
		}
		b.open(t, "/")
		if got := b.text(t, ".cards .card"); !strings.Contains(got, "60") {
			t.Fatalf("overview audience card: %q, want 60", got)
		}
		b.screenshot(t, "02-overview")
	})

	t.Run("approve a held drop", func(t *testing.T) {
		b.open(t, "/drops?status=held")
		b.screenshot(t, "03-drops-held")
		b.do(t, chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/drops/%d"]`, held))), chromedp.WaitVisible(chromedp.CSS("#decide")))
		summary := b.text(t, ".decide p")
		if !strings.Contains(summary, "50 removed") {
			t.Fatalf("dry-run summary: %q, want 50 removed", summary)
		}
		diff := b.text(t, "table.diff")
		if !strings.Contains(diff, "removed") || !strings.Contains(diff, "p00010@example.com") || !strings.Contains(diff, "First10") {
			t.Fatalf("the diff does not show removed people with their values:\n%s", diff)
		}
		b.screenshot(t, "04-drop-held")
		b.do(t, noConfirm(), chromedp.Click(chromedp.CSS("button.approve")), chromedp.WaitVisible(chromedp.CSS(".notice")))
		if s := b.text(t, ".facts .status"); s != "applied" {
			t.Fatalf("after approve the drop is %q", s)
		}
		if st := dropStatus(t, r.data, held); st != "applied" {
			t.Fatalf("the store says drop %d is %s", held, st)
		}
		if n := activeCount(t, r.data); n != 10 {
			t.Fatalf("audience after approve: %d, want 10", n)
		}
		b.screenshot(t, "05-drop-approved")
	})

	t.Run("reject another with a reason", func(t *testing.T) {
		b.open(t, fmt.Sprintf("/drops/%d", other))
		b.do(t, chromedp.SendKeys(chromedp.CSS("#reason"), "truncated export"), chromedp.Click(chromedp.CSS("button.reject")),
			chromedp.WaitVisible(chromedp.CSS(".notice")))
		if facts := b.text(t, ".facts"); !strings.Contains(facts, "rejected") || !strings.Contains(facts, "truncated export") {
			t.Fatalf("rejected drop page:\n%s", facts)
		}
		if st := dropStatus(t, r.data, other); st != "rejected" {
			t.Fatalf("the store says drop %d is %s", other, st)
		}
	})

	t.Run("search and explain a recipient", func(t *testing.T) {
		b.open(t, "/recipients")
		b.do(t, chromedp.SendKeys(chromedp.CSS("#q"), "FIRST7"), chromedp.Click(chromedp.CSS("form[role=search] button")),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/recipients/p00007@example.com"]`)))
		b.screenshot(t, "06-recipients-search")
		b.do(t, chromedp.Click(chromedp.CSS(`a[href="/recipients/p00007@example.com"]`)), chromedp.WaitVisible(chromedp.CSS("table.explain")))
		ex := b.text(t, "table.explain")
		if !strings.Contains(ex, "First7") || !strings.Contains(ex, "wins") || !strings.Contains(ex, "day1.csv") {
			t.Fatalf("explain:\n%s", ex)
		}
		b.screenshot(t, "07-recipient-explain")
	})

	t.Run("upload a CSV with a bad row and apply it", func(t *testing.T) {
		var csv strings.Builder
		csv.WriteString("email,first_name,last_name,groups\n")
		for i := range 60 {
			if i == 3 {
				csv.WriteString("not-an-address,Bad,Row,Staff\n")
			}
			fmt.Fprintf(&csv, "p%05d@example.com,First%d,Person,Staff\n", i, i)
		}
		file := filepath.Join(r.work, "upload.csv")
		if err := os.WriteFile(file, []byte(csv.String()), 0o640); err != nil {
			t.Fatal(err)
		}
		b.open(t, "/upload")
		b.screenshot(t, "08-upload")
		b.do(t, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}), chromedp.Click(chromedp.CSS("form[enctype] button")),
			chromedp.WaitVisible(chromedp.CSS(".verdict")))
		problems := b.text(t, "tr.sev-error")
		if !strings.Contains(problems, "5") || !strings.Contains(problems, "not an email address") {
			t.Fatalf("the bad row is not shown with its line: %q", problems)
		}
		if v := b.text(t, ".verdict"); !strings.Contains(v, "applied") {
			t.Fatalf("verdict: %q", v)
		}
		if diff := b.text(t, "table.diff"); !strings.Contains(diff, "added") || !strings.Contains(diff, "p00010@example.com") {
			t.Fatalf("the preview's diff:\n%s", diff)
		}
		b.screenshot(t, "09-upload-preview")
		b.do(t, chromedp.Click(chromedp.CSS("button.approve")), chromedp.WaitVisible(chromedp.CSS(".notice")))
		if s := b.text(t, ".facts .status"); s != "applied" {
			t.Fatalf("the upload's drop is %q", s)
		}
		if n := activeCount(t, r.data); n != 60 {
			t.Fatalf("audience after the upload: %d, want 60", n)
		}
		// Filed as the folder watcher files a dropped file, report beside.
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], r.base+"/drops/")
		filed := filepath.Join(r.data, "drops", "default", "hr", "archive", time.Now().UTC().Format("2006-01-02"), id+"-upload.csv")
		for _, p := range []string{filed, filed + ".report.json"} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the upload is not filed like a dropped file: %v", err)
			}
		}
		if left, _ := os.ReadDir(filepath.Join(r.data, "console-uploads")); len(left) != 0 {
			t.Fatalf("console-uploads/ still holds %d files", len(left))
		}
		b.screenshot(t, "10-upload-applied")
	})

	t.Run("add an individual", func(t *testing.T) {
		b.open(t, "/upload")
		b.do(t, chromedp.SendKeys(chromedp.CSS("#email"), "Grace.Hopper@Example.com"), chromedp.SendKeys(chromedp.CSS("#first"), "Grace"),
			chromedp.SendKeys(chromedp.CSS("#last"), "Hopper"), chromedp.SendKeys(chromedp.CSS("#groups"), "Board"),
			chromedp.Click(chromedp.CSS(`form[action="/people"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
		b.open(t, "/recipients/grace.hopper@example.com")
		if ex := b.text(t, "table.explain"); !strings.Contains(ex, "Grace") || !strings.Contains(ex, "manual") {
			t.Fatalf("the added person:\n%s", ex)
		}
		if n := activeCount(t, r.data); n != 61 {
			t.Fatalf("audience after adding: %d, want 61", n)
		}
		b.screenshot(t, "11-recipient-added")
	})

	t.Run("the other pages", func(t *testing.T) {
		for _, p := range []struct{ path, name, want string }{
			{"/", "12-overview-after", "Joined and left"}, {"/groups", "13-groups", "Board"},
			{"/sources/hr?to=1#rollback", "14-source-rollback-preview", "Rolling back to drop 1"},
			{"/drops", "15-drops", "Drops, newest first"},
		} {
			b.open(t, p.path)
			if body := b.text(t, "main"); !strings.Contains(body, p.want) {
				t.Fatalf("%s lacks %q:\n%s", p.path, p.want, body)
			}
			b.screenshot(t, p.name)
		}
		b.do(t, chromedp.EmulateViewport(390, 844))
		b.open(t, fmt.Sprintf("/drops/%d", held))
		b.screenshot(t, "16-phone-drop")
		b.open(t, "/")
		b.screenshot(t, "17-phone-overview")
		b.do(t, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("sign out", func(t *testing.T) {
		b.signOut(t)
		b.open(t, "/recipients")
		if b.count(t, "#token") != 1 {
			t.Fatal("after signing out a page did not ask to sign in")
		}
	})

	// A fresh held drop for the refusals.
	n := len(drops(t, r.data))
	writeCSV(t, r.drop, "day4.csv", "example.com", 2)
	ds = waitDecided(t, r.data, n+1)
	fresh := ds[len(ds)-1]
	if fresh.Status != "held" {
		t.Fatalf("day4: %s, want held", fresh.Status)
	}

	t.Run("a viewer sees no Approve and cannot post one", func(t *testing.T) {
		b.signIn(t, r.viewer)
		b.open(t, fmt.Sprintf("/drops/%d", fresh.ID))
		if b.count(t, "button.approve") != 0 || b.count(t, "#reason") != 0 {
			t.Fatal("a viewer sees the Approve or Reject form")
		}
		b.screenshot(t, "18-viewer-held-drop")
		// A hand-made POST from the viewer's own session: a form the page
		// did not offer, built and sent from the page.
		resp, err := chromedp.RunResponse(b.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(function () { const f = document.createElement("form");
				f.method = "post"; f.action = "/drops/%d/approve"; document.body.appendChild(f); f.submit(); return true; })()`, fresh.ID))(ctx, tg)
			return err
		}))
		if err != nil || resp.Status != http.StatusForbidden {
			t.Fatalf("a viewer's hand-made POST: %v %v, want 403", resp, err)
		}
		if msg := b.text(t, ".error"); !strings.Contains(msg, "viewer") {
			t.Fatalf("the viewer's refusal says: %q", msg)
		}
		if st := dropStatus(t, r.data, fresh.ID); st != "held" {
			t.Fatalf("after the viewer's POST drop %d is %s", fresh.ID, st)
		}
		b.screenshot(t, "19-viewer-post-refused")
		b.signOut(t)
	})

	t.Run("a form from another origin is refused", func(t *testing.T) {
		b.signIn(t, r.admin)
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/drops/%d/approve"><button id="go">Win a prize</button></form>`, r.base, fresh.ID)
		}))
		defer evil.Close()
		b.do(t, chromedp.Navigate(evil.URL), chromedp.Click(chromedp.CSS("#go")), chromedp.WaitVisible(chromedp.CSS(".error")))
		if msg := b.text(t, ".error"); !strings.Contains(msg, "another site") {
			t.Fatalf("cross-origin approve answered: %q", msg)
		}
		b.screenshot(t, "20-cross-origin-refused")
		if st := dropStatus(t, r.data, fresh.ID); st != "held" {
			t.Fatalf("after the cross-origin post drop %d is %s", fresh.ID, st)
		}
		b.open(t, "/")
		b.signOut(t)
	})

	t.Run("another organisation's drop answers 404", func(t *testing.T) {
		b.signIn(t, r.other)
		resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(fmt.Sprintf("%s/drops/%d", r.base, held)))
		if err != nil || resp.Status != http.StatusNotFound {
			t.Fatalf("another organisation's drop: %v %v, want 404", resp, err)
		}
		if msg := b.text(t, ".error"); !strings.Contains(msg, fmt.Sprintf("no drop %d", held)) {
			t.Fatalf("404 page: %q", msg)
		}
		b.screenshot(t, "21-other-org-404")
		b.signOut(t)
	})
}

// consolePage signs in to the console at base with tok (a plain HTTP
// client with a cookie jar, as a browser without JavaScript) and returns
// the HTML of path.
func consolePage(t *testing.T, base string, tok apiToken, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := c.PostForm(base+"/signin", url.Values{"token": {tok.secret}, "next": {path}, "tz": {"UTC"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Request.URL.Path != path {
		t.Fatalf("console %s as %s: %d at %s\n%s", path, tok.name, res.StatusCode, res.Request.URL, b)
	}
	return string(b)
}

// healthRow returns the cells of the Overview's sources table row of the
// source name (source, kind, state, last success, last attempt, last
// error, next run, people, held drops), as text.
func healthRow(t *testing.T, page, name string) []string {
	t.Helper()
	for _, row := range strings.Split(page, "<tr>") {
		if !strings.Contains(row, `href="/sources/`+name+`"`) {
			continue
		}
		row, _, _ = strings.Cut(row, "</tr>")
		var cells []string
		for _, m := range cellRE.FindAllStringSubmatch(row, -1) {
			cells = append(cells, strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(m[1], ""))))
		}
		return cells
	}
	t.Fatalf("no row of source %s on the page:\n%s", name, page)
	return nil
}

var (
	cellRE = regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	tagRE  = regexp.MustCompile(`<[^>]*>`)
)
