package api

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"muster/ingest/workos"
	"muster/sftpserver"
)

// Every metric muster exports follows Prometheus's naming conventions
// (promlint: units as suffixes, _total on counters only, no camel case,
// help on each), with every optional part turned on.
func TestMetricNamesFollowPrometheusConventions(t *testing.T) {
	a := MustAPI(t)
	a.ingest(acme, csvSource("hr"), "people.csv", people(3, "p", "acme.example", "staff"))
	m := NewMetrics(MetricsConfig{Store: a.st, Build: Build{Version: "1"},
		SFTP:   func() (sftpserver.Stats, bool) { return sftpserver.Stats{}, true },
		WorkOS: func() (workos.Stats, bool) { return workos.Stats{}, true },
		Runs:   func() []RunStatus { return []RunStatus{{Org: acme, Source: "okta"}} }})
	// The audience gauge counts each organisation's recipients by status.
	e := a.scrape("")
	e.want(t, "muster_recipients", 3, "org", acme, "status", "active")
	e.want(t, "muster_recipients", 0, "org", acme, "status", "gone")
	e.absent(t, "muster_recipients", "org", globex, "status", "active")
	m.Notification("ops", "drop.held", "delivered")
	m.throttled()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	for _, want := range []string{"muster_recipients", "muster_build_info", "muster_sftp_received_bytes_total",
		"muster_notifications_total", "muster_http_throttled_requests_total"} {
		if !names[want] {
			t.Errorf("%s is not exported", want)
		}
	}
}
