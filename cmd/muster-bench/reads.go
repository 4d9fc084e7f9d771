package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// daemon is `muster serve` over a store, with its admin API.
type daemon struct {
	cmd   *exec.Cmd
	base  string
	token string
	pid   int
}

// serve starts muster serve on data with an API token of its own.
func (b *bench) serve(data string) (*daemon, error) {
	out, err := exec.Command(b.bin, "token", "new", "-name", "bench", "-role", "viewer").Output()
	if err != nil {
		return nil, fmt.Errorf("muster token new: %w", err)
	}
	text := string(out)
	i := strings.Index(text, "[[http.tokens]]")
	fields := strings.Fields(text)
	if i < 0 || len(fields) < 10 {
		return nil, fmt.Errorf("muster token new printed %q", text)
	}
	var secret string
	for _, f := range fields {
		if strings.HasPrefix(f, "mst_") {
			secret = f
		}
	}
	cfg := filepath.Join(b.dir, "serve.toml")
	conf := "[http]\nlisten = \"127.0.0.1:0\"\n\n" + text[i:]
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(data, "serve.json"))
	cmd := exec.Command(b.bin, "serve", "-config", cfg, "-data", data)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, token: secret, pid: cmd.Process.Pid}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var st struct {
			PID      int    `json:"pid"`
			HTTPAddr string `json:"http_addr"`
		}
		if bs, err := os.ReadFile(filepath.Join(data, "serve.json")); err == nil && json.Unmarshal(bs, &st) == nil &&
			st.PID == d.pid && st.HTTPAddr != "" {
			d.base = "http://" + st.HTTPAddr
			return d, nil
		}
	}
	d.stop()
	return nil, fmt.Errorf("muster serve did not start:\n%s", logs.String())
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

// cpu returns the daemon's CPU time so far (user+sys, 10 ms resolution).
func (d *daemon) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// get reads path to the end; it returns the body when keep is set.
func (d *daemon) get(path string, keep bool) ([]byte, int64, error) {
	req, _ := http.NewRequest("GET", d.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		return nil, 0, fmt.Errorf("GET %s: %s: %s", path, res.Status, msg)
	}
	if keep {
		body, err := io.ReadAll(res.Body)
		return body, int64(len(body)), err
	}
	n, err := io.Copy(io.Discard, res.Body)
	return nil, n, err
}

// readRuns are the read-path series of one row count.
type readRuns struct {
	export, exportAnchor series
	walk, walkAnchor     series
	pages                []float64 // every page's time, ms
	recipients, npages   int
	exportBytes          int64
}

// readRounds measures /v1/export and a walk of /v1/recipients to the end
// against sqlite3 reading the same rows of the same store file.
func (b *bench) readRounds(data string) (readRuns, error) {
	var r readRuns
	db := filepath.Join(data, "muster.db")
	q := func(sql string) (string, error) {
		out, err := exec.Command("sqlite3", db, sql).Output()
		return strings.TrimSpace(string(out)), err
	}
	org, err := q(`SELECT id FROM orgs WHERE name='default'`)
	if err != nil || org == "" {
		return r, fmt.Errorf("no default organisation in %s: %v", db, err)
	}
	group, err := q(`SELECT g.id FROM groups g JOIN sources s ON s.id=g.source_id WHERE s.name='hr' AND g.name='All Staff'`)
	if err != nil || group == "" {
		return r, fmt.Errorf("no group All Staff in %s: %v", db, err)
	}
	n, _ := q(`SELECT count(*) FROM recipients WHERE org_id=` + org + ` AND status='active'`)
	r.recipients, _ = strconv.Atoi(n)
	// The anchors read the same rows and columns, in the same order, and
	// give the same values: an address stored as '' is the key (muster's
	// store keeps an address equal to its key once).
	exportSQL := `SELECT coalesce(nullif(email, ''), key), first_name, last_name FROM recipients WHERE org_id=` + org +
		` AND status='active' AND instr(group_ids, ',` + group + `,')>0 ORDER BY key`
	walkSQL := `SELECT key, coalesce(nullif(email, ''), key), first_name, last_name, status, created_seq, updated_seq, attrs, group_ids FROM recipients WHERE org_id=` +
		org + ` AND status='active' ORDER BY key`
	d, err := b.serve(data)
	if err != nil {
		return r, err
	}
	defer d.stop()
	for round := range b.rounds {
		steps := []func() error{
			func() error { // sqlite3 -csv
				s, err := measure(exec.Command("sqlite3", "-csv", db, exportSQL), nil)
				r.exportAnchor = append(r.exportAnchor, s)
				return err
			},
			func() error { // muster's export
				c0, t0 := d.cpu(), time.Now()
				_, n, err := d.get("/v1/export?group="+url.QueryEscape("All Staff"), false)
				r.export = append(r.export, sample{wall: time.Since(t0), user: d.cpu() - c0})
				r.exportBytes = n
				return err
			},
			func() error { // sqlite3 -json
				s, err := measure(exec.Command("sqlite3", "-json", db, walkSQL), nil)
				r.walkAnchor = append(r.walkAnchor, s)
				return err
			},
			func() error { // the page walk
				c0, t0 := d.cpu(), time.Now()
				after, pages := "", 0
				for {
					path := "/v1/recipients?limit=1000"
					if after != "" {
						path += "&after=" + url.QueryEscape(after)
					}
					p0 := time.Now()
					body, _, err := d.get(path, true)
					if err != nil {
						return err
					}
					r.pages = append(r.pages, float64(time.Since(p0).Microseconds())/1000)
					pages++
					var page struct {
						Next string `json:"next"`
					}
					if err := json.Unmarshal(body, &page); err != nil {
						return fmt.Errorf("page %d: %w", pages, err)
					}
					if page.Next == "" {
						break
					}
					after = page.Next
				}
				r.walk = append(r.walk, sample{wall: time.Since(t0), user: d.cpu() - c0})
				r.npages = pages
				return nil
			},
		}
		if round%2 == 1 {
			steps[0], steps[1], steps[2], steps[3] = steps[1], steps[0], steps[3], steps[2]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return r, err
			}
		}
		b.logf("  round %d: export %s (sqlite3 -csv %s), walk of %d pages %s (sqlite3 -json %s); load %s", round+1,
			r.export[round].wall.Round(time.Millisecond), r.exportAnchor[round].wall.Round(time.Millisecond), r.npages,
			r.walk[round].wall.Round(time.Millisecond), r.walkAnchor[round].wall.Round(time.Millisecond), loadavg())
	}
	if r.recipients == 0 {
		return r, errors.New("no active recipients to read")
	}
	return r, nil
}

func (b *bench) printReads(rows int, r readRuns, load0 string) {
	fmt.Fprintf(b.out, "\nreads of the %d-row store: %d active recipients; %d rounds, alternating; load %s before, %s after\n",
		rows, r.recipients, b.rounds, load0, loadavg())
	var t table
	t.add("run", "wall s (min med max)", "CPU s (min med max)")
	t.add("/v1/export, CSV ("+strconv.FormatInt(r.exportBytes>>20, 10)+" MB; server CPU)", r.export.wall().format("", 3), r.export.cpu().format("", 2))
	t.add("sqlite3 -csv, same rows", r.exportAnchor.wall().format("", 3), r.exportAnchor.cpu().format("", 2))
	t.add(fmt.Sprintf("/v1/recipients walk, %d pages of 1000 (server CPU)", r.npages), r.walk.wall().format("", 3), r.walk.cpu().format("", 2))
	t.add("sqlite3 -json, same rows and columns", r.walkAnchor.wall().format("", 3), r.walkAnchor.cpu().format("", 2))
	t.print(b.out)
	pages := spreadOf(r.pages)
	p90 := percentile(r.pages, 0.9)
	ew, ww := ratios(r.export, r.exportAnchor, wallOf), ratios(r.walk, r.walkAnchor, wallOf)
	fmt.Fprintf(b.out, "export / sqlite3 -csv: %s wall (target <= 1.5x)\n", ew.format("x", 2))
	fmt.Fprintf(b.out, "walk / sqlite3 -json: %s wall; walk / export: %.2fx\n", ww.format("x", 2), r.walk.wall().med/r.export.wall().med)
	fmt.Fprintf(b.out, "one page of 1000, as the client sees it over loopback: min %.2f ms, median %.2f ms, p90 %.2f ms, max %.2f ms\n",
		pages.min, pages.med, p90, pages.max)
	// The server's side of a page: the daemon's CPU time over the walk (HTTP,
	// query, JSON) divided by its pages; steadier than wall time on a shared
	// machine, where the client and other work take turns on the cores.
	perPage := r.walk.cpu()
	if r.npages > 0 {
		k := 1000 / float64(r.npages)
		perPage = spread{perPage.min * k, perPage.med * k, perPage.max * k}
	}
	fmt.Fprintf(b.out, "one page of 1000, the server's CPU time: %s ms (min med max over rounds; target <= 2 ms server time)\n",
		perPage.format("", 2))
	rs := rowsLabel(rows)
	b.sum.add("/v1/export "+rs+" audience: wall", fmt.Sprintf("%.2f s", r.export.wall().med),
		fmt.Sprintf("%.2f s `sqlite3 -csv`", r.exportAnchor.wall().med), ratioText(ew), "<= 1.5x")
	b.sum.add("/v1/recipients walk "+rs+": wall", fmt.Sprintf("%.2f s", r.walk.wall().med),
		fmt.Sprintf("%.2f s `sqlite3 -json`", r.walkAnchor.wall().med), ratioText(ww), "")
	b.sum.add("one page of 1000 "+rs+" (client side, loopback)", fmt.Sprintf("%.2f ms (p90 %.2f, max %.2f)", pages.med, p90, pages.max), "", "", "")
	b.sum.add("one page of 1000 "+rs+" (server CPU)", fmt.Sprintf("%.2f ms (%.2f to %.2f)", perPage.med, perPage.min, perPage.max), "", "", "<= 2 ms")
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
