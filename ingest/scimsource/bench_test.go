package scimsource

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConcurrentCreates is an IdP's first cycle: 16 clients POST
// users one request at a time over loopback HTTP into a real store file,
// each waiting for its answer (which comes once its batch is committed).
// b.N is the number of users. "grouped" is muster (concurrent writes share
// a transaction); "one-per-tx" is the anchor beside it: the same server
// with one request per transaction.
//
//	go test -run X -bench ConcurrentCreates -benchtime 5000x -count 3 ./ingest/scimsource/
func BenchmarkConcurrentCreates(b *testing.B) {
	for _, c := range []struct {
		name  string
		batch int
	}{{"grouped", 0}, {"one-per-tx", 1}} {
		b.Run(c.name, func(b *testing.B) {
			r := MustRig(b)
			if c.batch > 0 {
				r.b.MaxBatch = c.batch
			}
			benchCreates(b, r, 16)
		})
	}
}

func benchCreates(b *testing.B, r *rig, clients int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	url := r.base("idp") + "/Users"
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%07d@example.org",
"name":{"givenName":"Given%d","familyName":"Family"},"emails":[{"primary":true,"value":"user%07d@example.org","type":"work"}],
"displayName":"Given Family","externalId":"ext-%d","active":true}`, i, i, i, i)
				req, _ := http.NewRequest("POST", url, bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer tok-idp")
				req.Header.Set("Content-Type", "application/scim+json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					failed.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d creates failed", n)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}
