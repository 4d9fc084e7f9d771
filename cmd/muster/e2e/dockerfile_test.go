package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The container cannot be built here (no Docker engine; CI runs the
// Dockerfile's build line itself). What can be checked: the HEALTHCHECK
// runs a command the binary has, which answers as a health check must
// (exit 0 when the daemon is ready, non-zero when there is none), and the
// image's OCI labels carry the version the build line gives the binary.
func TestDockerfileHealthcheckAndLabels(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	m := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD (\[.*\])\s*$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile has no HEALTHCHECK CMD [...] (exec form: the image has no shell)")
	}
	var argv []string
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil || len(argv) < 2 || argv[0] != "/muster" {
		t.Fatalf("HEALTHCHECK CMD %s: want [\"/muster\", ...]", m[1])
	}
	if !strings.Contains(df, "COPY --from=build /src/bin/muster /muster") || !strings.Contains(df, `ENV MUSTER_DATA=/data`) {
		t.Fatal("the image's binary is not /muster, or its data dir is not /data: the HEALTHCHECK would not find them")
	}
	// Run as the image runs it: the data dir from MUSTER_DATA, the daemon
	// serving HTTP (the default command's -http).
	data := t.TempDir()
	d := MustServe(t, data, t.TempDir(), nil, "-http", "127.0.0.1:0")
	health := func() (int, string) {
		cmd := exec.Command(binary, argv[1:]...)
		cmd.Env = append(os.Environ(), "MUSTER_DATA="+data)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := health(); code != 0 || !strings.Contains(out, "ready") {
		t.Fatalf("HEALTHCHECK against a ready daemon: exit %d: %s", code, out)
	}
	// A watched folder removed: not ready, exit 1, the check named.
	os.RemoveAll(filepath.Join(data, "drop"))
	waitFor(t, "the health check to fail", func() bool {
		code, out := health()
		return code == 1 && strings.Contains(out, "watch")
	})
	d.stop()
	if code, out := health(); code != 1 || !strings.Contains(out, "no muster serve is running") {
		t.Fatalf("HEALTHCHECK without a daemon: exit %d: %s", code, out)
	}
	// The labels and the binary are given the same version.
	for _, label := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${COMMIT}"`,
		`org.opencontainers.image.created="${BUILD_TIME}"`} {
		if !strings.Contains(df, label) {
			t.Errorf("the Dockerfile lacks the label %s", label)
		}
	}
	build := regexp.MustCompile(`(?m)^RUN CGO_ENABLED=1 go build .*$`).FindString(df)
	for _, x := range []string{"-X main.version=${VERSION:-}", "-X main.commit=${COMMIT:-}", "-X main.buildTime=${BUILD_TIME:-}"} {
		if !strings.Contains(build, x) {
			t.Errorf("the build line does not set %s: %s", x, build)
		}
	}
}
