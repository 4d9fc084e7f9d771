package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestREADME runs README.md as a newcomer would, from a fresh copy of the
// repository: every `sh` block with sh and every `bash` block with bash,
// in order, line by line, each line expected to exit 0 or the code its
// comment names ("(exit 3)"). A `muster serve` line starts the daemon (on
// free ports: the lines after it, up to the end of the section, have the
// README's ports 2022 and 8080 pointed at the ones it got) and the section's
// end stops it, which must be clean. `go test` lines are not run (this is
// one). A block the test cannot run says why in an HTML comment just above
// it (<!-- readme-test: skip: REASON -->). The README's Development section
// describes the rules.
func TestREADME(t *testing.T) {
	for _, tool := range []string{"sh", "bash", "sftp", "scp", "curl", "lftp", "rclone", "awk", "head"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs what the README uses)", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, string(readme))
	r := &readmeRun{t: t, clone: copyRepo(t), envFile: filepath.Join(t.TempDir(), "env")}
	r.env = readmeEnv(t)
	t.Cleanup(r.stopDaemon)
	ran, skipped := 0, 0
	for _, b := range blocks {
		if b.section != r.section {
			r.stopDaemon()
			r.section = b.section
		}
		if b.skip != "" {
			skipped++
			t.Logf("README line %d (%s): not run: %s", b.line, b.section, b.skip)
			continue
		}
		ran += r.runBlock(b)
		if t.Failed() {
			return
		}
	}
	r.stopDaemon()
	t.Logf("README: %d commands run in %d blocks, %d blocks skipped with their reason", ran, len(blocks)-skipped, skipped)
	if ran < 40 {
		t.Fatalf("only %d README commands ran", ran)
	}
}

// readmeBlock is a shell block of the README.
type readmeBlock struct {
	section string // the ## heading it is under
	shell   string // sh or bash
	line    int    // of the opening fence
	skip    string // the reason given, if it is not run
	lines   []readmeLine
}

// readmeLine is a logical line (continuations joined).
type readmeLine struct {
	n    int
	text string
	exit int // the exit code its comment names; 0 by default
}

var (
	fenceRE = regexp.MustCompile("^```(\\w*)\\s*$")
	skipRE  = regexp.MustCompile(`^<!-- readme-test: skip: (.+) -->$`)
	exitRE  = regexp.MustCompile(`\(exit (\d+)\)`)
)

func readmeBlocks(t *testing.T, readme string) []readmeBlock {
	t.Helper()
	var out []readmeBlock
	lines := strings.Split(readme, "\n")
	section := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "## ") {
			section = strings.TrimPrefix(l, "## ")
		}
		m := fenceRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		start := i
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
			j++
		}
		body := lines[i+1 : j]
		i = j
		if m[1] != "sh" && m[1] != "bash" {
			continue
		}
		b := readmeBlock{section: section, shell: m[1], line: start + 1}
		if start > 0 {
			if s := skipRE.FindStringSubmatch(lines[start-1]); s != nil {
				b.skip = s[1]
			}
		}
		for k := 0; k < len(body); k++ {
			text, n := body[k], start+2+k
			for strings.HasSuffix(text, "\\") && k+1 < len(body) {
				k++
				text += "\n" + body[k] // the shell joins them
			}
			if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
				continue
			}
			rl := readmeLine{n: n, text: text}
			if e := exitRE.FindStringSubmatch(text); e != nil {
				rl.exit, _ = strconv.Atoi(e[1])
			}
			b.lines = append(b.lines, rl)
		}
		out = append(out, b)
	}
	if len(out) < 10 {
		t.Fatalf("only %d shell blocks found in README.md", len(out))
	}
	return out
}

// copyRepo copies the repository's tracked files (as a clone has them)
// into a temporary folder.
func copyRepo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = repo
	out, err := cmd.Output()
	var files []string
	if err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 { // no git: every file but what muster and its tools write
		filepath.Walk(repo, func(p string, fi os.FileInfo, err error) error {
			rel, _ := filepath.Rel(repo, p)
			if err != nil || rel == "." {
				return nil
			}
			if fi.IsDir() && (strings.HasPrefix(fi.Name(), ".") || strings.HasSuffix(rel, "-data") || rel == "bin") {
				return filepath.SkipDir
			}
			if fi.Mode().IsRegular() {
				files = append(files, rel)
			}
			return nil
		})
	}
	for _, f := range files {
		src := filepath.Join(repo, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() { // deleted in the worktree, or a link
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// readmeEnv is a newcomer's environment: an empty HOME, no muster
// setting, no muster on the PATH; Go's caches kept (a cold cache would
// only make the run slower).
func readmeEnv(t *testing.T) []string {
	t.Helper()
	keep := map[string]bool{}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOPROXY", "GONOSUMDB", "GOPRIVATE", "GOTOOLCHAIN"} {
		out, err := exec.Command("go", "env", k).Output()
		if err == nil && strings.TrimSpace(string(out)) != "" {
			keep[k] = true
			os.Setenv("README_TEST_"+k, strings.TrimSpace(string(out)))
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MUSTER_") || k == "HOME" || strings.HasPrefix(k, "README_TEST_") || keep[k] || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	for k := range keep {
		env = append(env, k+"="+os.Getenv("README_TEST_"+k))
	}
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "muster")); err == nil {
			continue // a muster installed elsewhere must not stand in for the build step
		}
		path = append(path, dir)
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "PATH="+strings.Join(path, string(os.PathListSeparator)), "TZ=UTC")
}

// readmeRun is the README being run: the copy, the environment the
// blocks share (exports persist, as in one terminal), the daemon.
type readmeRun struct {
	t       *testing.T
	clone   string
	env     []string
	envFile string
	section string
	daemon  *readmeDaemon
}

// readmeDaemon is a `muster serve` the README started.
type readmeDaemon struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
	line           string
	ports          map[string]string // README port -> actual
	httpAddr       string
}

var serveRE = regexp.MustCompile(`^(\./muster|muster|go run \./cmd/muster) serve\b`)

// runBlock runs a block's lines, in segments split at serve lines, and
// returns how many commands ran.
func (r *readmeRun) runBlock(b readmeBlock) int {
	ran := 0
	var seg []readmeLine
	flush := func() {
		if len(seg) > 0 {
			r.runSegment(b, seg)
			ran += len(seg)
			seg = nil
		}
	}
	for _, l := range b.lines {
		text := strings.TrimSpace(l.text)
		switch {
		case strings.HasPrefix(text, "go test "):
			r.t.Logf("README line %d: not run inside go test: %s", l.n, text)
		case serveRE.MatchString(text):
			flush()
			r.startDaemon(b, l)
			ran++
		default:
			seg = append(seg, l)
		}
		if r.t.Failed() {
			return ran
		}
	}
	flush()
	return ran
}

// port points the README's ports at the daemon's.
func (r *readmeRun) ports(s string) string {
	if r.daemon == nil {
		return s
	}
	for from, to := range r.daemon.ports {
		s = regexp.MustCompile(`\b`+from+`\b`).ReplaceAllString(s, to)
	}
	return s
}

// runSegment runs lines in one shell, each between markers, and checks
// their exit codes.
func (r *readmeRun) runSegment(b readmeBlock, lines []readmeLine) {
	t := r.t
	var script strings.Builder
	fmt.Fprintf(&script, "[ -f %q ] && . %q\n", r.envFile, r.envFile)
	for i, l := range lines {
		fmt.Fprintf(&script, "printf '\\n@@start %d\\n'\n%s\nprintf '\\n@@rc %d %%s\\n' \"$?\"\n", i, r.ports(l.text), i)
	}
	fmt.Fprintf(&script, "export -p > %q\n", r.envFile)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.shell, "-c", script.String())
	cmd.Dir, cmd.Env, cmd.Stdin = r.clone, r.env, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("README lines %d-%d (%s) did not finish in 10 minutes:\n%s", lines[0].n, lines[len(lines)-1].n, b.section, out)
	}
	rcs, outs := parseMarkers(out)
	for i, l := range lines {
		rc, ok := rcs[i]
		switch {
		case !ok:
			t.Errorf("README line %d (%s, %s): did not finish (%v):\n%s\n--- output:\n%s", l.n, b.section, b.shell, err, l.text, outs[i])
		case rc != l.exit:
			t.Errorf("README line %d (%s, %s): exit %d, the README says %d:\n%s\n--- output:\n%s", l.n, b.section, b.shell, rc, l.exit, l.text, outs[i])
		}
		if t.Failed() {
			if r.daemon != nil {
				t.Logf("the daemon (%s):\n%s\n%s", r.daemon.line, r.daemon.stdout, r.daemon.stderr)
			}
			return
		}
	}
}

// parseMarkers reads each line's output and exit code from a segment's
// output.
func parseMarkers(out []byte) (map[int]int, map[int]string) {
	rcs, outs := map[int]int{}, map[int]string{}
	cur := -1
	var buf strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		var i, rc int
		if n, _ := fmt.Sscanf(l, "@@start %d", &i); n == 1 && strings.HasPrefix(l, "@@start ") {
			cur = i
			buf.Reset()
			continue
		}
		if n, _ := fmt.Sscanf(l, "@@rc %d %d", &i, &rc); n == 2 && strings.HasPrefix(l, "@@rc ") {
			rcs[i], outs[i] = rc, buf.String()
			cur = -1
			continue
		}
		if cur >= 0 {
			buf.WriteString(l + "\n")
		} else {
			outs[-1] += l + "\n"
		}
	}
	for i := range outs {
		if _, ok := rcs[i]; !ok && i >= 0 {
			outs[i] = buf.String()
		}
	}
	if cur >= 0 {
		outs[cur] = buf.String()
	}
	return rcs, outs
}

// startDaemon starts a README serve line on free ports and waits for its
// banner.
func (r *readmeRun) startDaemon(b readmeBlock, l readmeLine) {
	t := r.t
	r.stopDaemon()
	line := strings.TrimSpace(l.text)
	if i := strings.Index(line, " #"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	line = strings.TrimSpace(strings.TrimSuffix(line, "&"))
	d := &readmeDaemon{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1), line: line,
		ports: map[string]string{}}
	script := fmt.Sprintf("[ -f %q ] && . %q\nexec %s -sftp 127.0.0.1:0 -http 127.0.0.1:0\n", r.envFile, r.envFile, line)
	d.cmd = exec.Command(b.shell, "-c", script)
	d.cmd.Dir, d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = r.clone, r.env, d.stdout, d.stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	r.daemon = d
	deadline := time.Now().Add(10 * time.Minute) // go run compiles first
	for !strings.Contains(d.stdout.String(), "Stop with Ctrl-C.") {
		select {
		case err := <-d.done:
			t.Fatalf("README line %d: %s exited (%v):\n%s%s", l.n, line, err, d.stdout, d.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("README line %d: %s printed no banner:\n%s%s", l.n, line, d.stdout, d.stderr)
		}
	}
	m := regexp.MustCompile(`\(data in (.+)\)`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("README line %d: the banner names no data directory:\n%s", l.n, d.stdout)
	}
	data := m[1]
	if !filepath.IsAbs(data) {
		data = filepath.Join(r.clone, data)
	}
	bs, err := os.ReadFile(filepath.Join(data, "serve.json"))
	var st struct {
		SFTPAddr string `json:"sftp_addr"`
		HTTPAddr string `json:"http_addr"`
	}
	if err != nil || json.Unmarshal(bs, &st) != nil {
		t.Fatalf("README line %d: serve.json: %v %s", l.n, err, bs)
	}
	if st.SFTPAddr != "" {
		d.ports["2022"] = st.SFTPAddr[strings.LastIndex(st.SFTPAddr, ":")+1:]
	}
	if st.HTTPAddr != "" {
		d.ports["8080"] = st.HTTPAddr[strings.LastIndex(st.HTTPAddr, ":")+1:]
	}
	t.Logf("README line %d: %s runs (ports %v)", l.n, line, d.ports)
}

// stopDaemon stops the README's daemon with SIGTERM (as Ctrl-C would),
// which must stop it cleanly.
func (r *readmeRun) stopDaemon() {
	d := r.daemon
	if d == nil {
		return
	}
	r.daemon = nil
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(90 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
		r.t.Errorf("%s did not stop after SIGTERM:\n%s", d.line, d.stderr)
		return
	}
	if !strings.Contains(d.stderr.String(), "msg=stopped") {
		r.t.Errorf("%s did not stop cleanly:\n%s", d.line, d.stderr)
	}
}
