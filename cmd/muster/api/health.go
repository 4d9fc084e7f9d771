package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Check is one readiness check. Its error message is shown on /readyz,
// which needs no token: it must not carry data (the schedule check names
// the failing sources, which operators must see there: issue 11).
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// RunStatus is a scheduled source's last run, as the scheduler tells it.
type RunStatus struct {
	Org    string
	Source string
	// LastRun is when the last run ended; LastSuccess when the last run
	// that succeeded ended. Zero: none yet.
	LastRun     time.Time
	LastSuccess time.Time
	// Err is the last run's error; "" when it succeeded.
	Err string
}

// RunsCheck is the readiness check "the last scheduled runs are not
// failing": it fails while any source's last run failed, naming them (not
// their errors: `sources list`, /v1/sources and the log say why).
func RunsCheck(runs func() []RunStatus) Check {
	return Check{Name: "schedule", Check: func(context.Context) error {
		var failing []string
		for _, r := range runs() {
			if r.Err != "" {
				failing = append(failing, r.Org+"/"+r.Source)
			}
		}
		if len(failing) > 0 {
			return fmt.Errorf("the last run of %d scheduled sources failed: %s (see sources list, /v1/sources and the log)",
				len(failing), strings.Join(failing, ", "))
		}
		return nil
	}}
}

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
		Build
	}{"ok", s.cfg.Build})
}

// checkResult is one check on /readyz.
type checkResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyz runs every check: 200 when all pass, 503 when any fails, each
// reported in the body.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := append([]Check{{Name: "store", Check: s.cfg.Store.Ping}}, s.cfg.Checks...)
	out := make([]checkResult, 0, len(checks))
	ready := true
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		err := c.Check(ctx)
		cancel()
		res := checkResult{Name: c.Name, OK: err == nil}
		if err != nil {
			ready = false
			res.Error = err.Error()
			if c.Name == "store" { // the detail may name paths: logged only
				res.Error = "the store cannot be read"
			}
			s.log.Debug("not ready", "check", c.Name, "err", err)
		}
		out = append(out, res)
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	body := map[string]any{"ready": ready, "version": s.cfg.Build.Version, "checks": out}
	if s.cfg.Leadership != nil {
		body["scheduler"] = s.cfg.Leadership()
	}
	writeJSON(w, status, body)
}
