package api

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"muster/ingest/workos"
	"muster/sftpserver"
)

// exported gathers every metric family muster exports with every part on
// (a store with a drop, SFTP, WorkOS, directories, notifications, the
// throttle, SCIM), by name, with the histograms' series names too.
func exported(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	a := MustAPI(t)
	m := NewMetrics(MetricsConfig{Store: a.st, Build: Build{Version: "1"},
		SFTP:   func() (sftpserver.Stats, bool) { return sftpserver.Stats{}, true },
		WorkOS: func() (workos.Stats, bool) { return workos.Stats{}, true },
		Runs:   func() []RunStatus { return []RunStatus{{Org: acme, Source: "okta", LastSuccess: time.Now()}} }})
	a.in.Observe = m.Observe
	a.ingest(acme, csvSource("hr"), "people.csv", people(3, "p", "acme.example", "staff"))
	m.request("/v1/drops", 200, time.Millisecond)
	m.authFailed()
	m.throttled()
	m.Notification("ops", "drop.held", "delivered")
	m.ObserveSCIM(acme, "okta", "GET", "Users", 200, time.Millisecond)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[f.GetName()+s] = f
			}
		}
	}
	return out
}

// promQL returns the expressions of the Grafana dashboard and of the
// alert rules under samples/observability.
func promQL(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../../samples/observability/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	out := map[string][]string{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out["dashboard panel "+p.Title] = append(out["dashboard panel "+p.Title], tg.Expr)
		}
	}
	b, err = os.ReadFile("../../../samples/observability/prometheus-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	alert := ""
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if name, ok := strings.CutPrefix(l, "- alert: "); ok {
			alert = name
		}
		expr, ok := strings.CutPrefix(l, "expr: ")
		if !ok {
			continue
		}
		if expr == "|" { // a block: the lines indented under it
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			expr = ""
			for i+1 < len(lines) && len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent {
				i++
				expr += lines[i] + "\n"
			}
		}
		if alert == "" {
			t.Fatalf("prometheus-alerts.yml: an expr outside an alert at line %d", i+1)
		}
		out["alert "+alert] = append(out["alert "+alert], expr)
	}
	return out
}

// Every muster_* metric the Grafana dashboard and the alert rules use is
// exported, and every label they select on is one of its labels.
func TestObservabilitySamplesUseExportedMetrics(t *testing.T) {
	have := exported(t)
	exprs := promQL(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d panels and alerts read: %v", len(exprs), exprs)
	}
	use := regexp.MustCompile(`\b(muster_[a-z0-9_]+)(\{[^}]*\})?`)
	label := regexp.MustCompile(`([a-z_]+)\s*(=~|!=|!~|=)`)
	used := 0
	for where, list := range exprs {
		for _, e := range list {
			for _, m := range use.FindAllStringSubmatch(e, -1) {
				used++
				f := have[m[1]]
				if f == nil {
					t.Errorf("%s uses %s, which muster does not export", where, m[1])
					continue
				}
				labels := map[string]bool{"le": f.GetType() == dto.MetricType_HISTOGRAM}
				for _, x := range f.Metric {
					for _, l := range x.Label {
						labels[l.GetName()] = true
					}
				}
				for _, l := range label.FindAllStringSubmatch(m[2], -1) {
					if !labels[l[1]] {
						t.Errorf("%s selects %s on label %q, which it does not have", where, m[1], l[1])
					}
				}
			}
		}
	}
	if used < 30 {
		t.Fatalf("only %d uses of muster metrics found", used)
	}

}
