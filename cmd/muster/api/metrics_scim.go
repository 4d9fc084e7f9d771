package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scimMetrics are the SCIM endpoint's request counters.
type scimMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newSCIMMetrics(reg *prometheus.Registry) scimMetrics {
	m := scimMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "scim_requests_total",
			Help: "SCIM requests by source, method, resource (Users, Groups, ServiceProviderConfig, ...) and status code; " +
				"org and source are empty for requests naming no configured source."},
			[]string{"org", "source", "method", "resource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "scim_request_duration_seconds",
			Help:    "Time to answer a SCIM request (a write: until its batch is committed).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"org", "source", "method", "resource"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// ObserveSCIM counts one SCIM request.
func (m *Metrics) ObserveSCIM(org, source, method, resource string, code int, d time.Duration) {
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
	default:
		method = "other" // no label value from the internet
	}
	m.scim.requests.WithLabelValues(org, source, method, resource, strconv.Itoa(code)).Inc()
	m.scim.duration.WithLabelValues(org, source, method, resource).Observe(d.Seconds())
}
