package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"muster/schema"
)

// cmdHealth asks the running daemon's /readyz whether it is ready: exit 0
// when it is, 1 when it is not or cannot be reached. It finds the daemon
// through <data_dir>/serve.json (the data directory as every command finds
// it), or is told -url. The container's HEALTHCHECK runs it: the image has
// no shell and no curl.
func cmdHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "health", "")
	sf := addDataFlags(fs, e)
	url := fs.String("url", "", "the admin HTTP server's address (default: http_addr in <data_dir>/serve.json)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	asJSON := fs.Bool("json", false, "print /readyz's answer as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("health takes no arguments")
	}
	base := strings.TrimSuffix(*url, "/")
	if base == "" {
		if err := sf.setup(""); err != nil {
			return err
		}
		st, err := readState(sf.data)
		if err != nil {
			return err
		}
		if st.HTTPAddr == "" {
			return schema.Errorf(schema.EUnavailable, "the daemon on %s runs no admin HTTP server: add an [http] table to its config, or start it with -http ADDR", sf.data)
		}
		host, port, err := net.SplitHostPort(st.HTTPAddr)
		if err != nil {
			return schema.Errorf(schema.EInvalid, "%s: http_addr %q is not host:port", filepath.Join(sf.data, StateFile), st.HTTPAddr)
		}
		base = "http://" + net.JoinHostPort(hostForClients(host), port)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return usagef("-url %q: %v", *url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return schema.WrapError(schema.EUnavailable, err, "muster is not answering at %s", base)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var ready struct {
		Ready   bool              `json:"ready"`
		Version string            `json:"version"`
		Checks  []json.RawMessage `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		return schema.Errorf(schema.EUnavailable, "%s/readyz answered %s, not muster's readiness", base, resp.Status)
	}
	if *asJSON {
		if _, err := e.stdout.Write(body); err != nil {
			return err
		}
	}
	if resp.StatusCode == http.StatusOK && ready.Ready {
		if !*asJSON {
			fmt.Fprintf(e.stdout, "ready: %s\n", base)
		}
		return nil
	}
	var failing []string
	for _, raw := range ready.Checks {
		var c struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &c) == nil && !c.OK {
			failing = append(failing, c.Name+": "+c.Error)
		}
	}
	return schema.Errorf(schema.EUnavailable, "not ready (%s): %s", resp.Status, strings.Join(failing, "; "))
}

// readState reads <data>/serve.json, written by a running `muster serve`.
func readState(data string) (State, error) {
	var st State
	path := filepath.Join(data, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, schema.Errorf(schema.EUnavailable, "no muster serve is running on %s (no %s)", data, StateFile)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, schema.Errorf(schema.EInvalid, "%s: %v", path, err)
	}
	return st, nil
}
