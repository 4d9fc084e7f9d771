package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags for releases (the Dockerfile's build line does):
//
//	-X main.version=1.4.0 -X main.commit=abc123 -X main.buildTime=2025-01-31T10:00:00Z
//
// Left empty, they come from the build info Go embeds (the module version,
// and the VCS revision and commit time when built from a git checkout).
var (
	version   string
	commit    string
	buildTime string
)

// BuildInfo says which muster this is: `muster version`, the banner, the
// start log line, /healthz and the muster_build_info metric.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Modified is true when the checkout it was built from had local
	// changes (the VCS says so).
	Modified bool `json:"modified,omitempty"`
	// BuildTime is when the release was built (-ldflags); else the commit's
	// time, if known.
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// buildInfo reads the version from -ldflags, then from the build info.
func buildInfo() BuildInfo {
	b := BuildInfo{Version: version, Commit: commit, BuildTime: buildTime, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.BuildTime == "" {
					b.BuildTime = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.BuildTime == "" {
		b.BuildTime = "unknown"
	}
	return b
}

// Short is the one-line form: "muster 1.4.0 (abc123def456, go1.26.0)".
func (b BuildInfo) Short() string {
	c := b.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if b.Modified {
		c += "+dirty"
	}
	return fmt.Sprintf("muster %s (%s, %s)", b.Version, c, b.GoVersion)
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("version takes no arguments")
	}
	b := buildInfo()
	if *asJSON {
		return writeJSON(e.stdout, b)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "muster %s\n", b.Version)
	commit := b.Commit
	if b.Modified {
		commit += " (with local changes)"
	}
	fmt.Fprintf(&s, "  commit  %s\n  built   %s\n  go      %s %s\n", commit, b.BuildTime, b.GoVersion, b.Platform)
	_, err := fmt.Fprint(e.stdout, s.String())
	return err
}
