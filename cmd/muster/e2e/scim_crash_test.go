package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// TestSCIMKilledMidBurst kills the daemon (SIGKILL) while 8 clients create
// users, starts it again, and checks that every create that was answered
// 201 is there, and that the SCIM resources and the audience agree: each
// user the endpoint lists is an active recipient, and deriving the audience
// again from the sources changes nothing. Resources and audience change are
// one transaction, committed before the answer.
func TestSCIMKilledMidBurst(t *testing.T) {
	work, data := t.TempDir(), t.TempDir()
	const token = "mst_crash-test-token"
	cfg := fmt.Sprintf("data_dir = %q\n[scim]\nlisten = \"127.0.0.1:0\"\n[[sources]]\nname = \"okta\"\nkind = \"scim\"\ntoken_hash = %q\n",
		data, api.HashToken(token))
	cfgPath := filepath.Join(work, "muster.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	base := func() string {
		var st struct {
			SCIMAddr string `json:"scim_addr"`
		}
		b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
		if err := json.Unmarshal(b, &st); err != nil || st.SCIMAddr == "" {
			t.Fatalf("serve.json: %s", b)
		}
		return "http://" + st.SCIMAddr + "/scim/v2/default/okta"
	}
	do := func(method, url, body string) (int, map[string]any, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m, nil
	}
	for round := range 3 {
		d := MustServe(t, data, work, nil, "-config", cfgPath)
		url := base() + "/Users"
		var acked sync.Map // id -> userName
		var n, ok atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					i := n.Add(1)
					name := fmt.Sprintf("r%d-w%d-%d@example.org", round, w, i)
					status, m, err := do("POST", url, fmt.Sprintf(`{"userName":%q}`, name))
					if err != nil {
						return // the daemon is gone
					}
					if status == 201 {
						acked.Store(m["id"].(string), name)
						ok.Add(1)
					}
				}
			}()
		}
		waitFor(t, "some creates", func() bool { return ok.Load() >= 50 })
		d.kill()
		close(stop)
		wg.Wait()
		d = MustServe(t, data, work, nil, "-config", cfgPath)
		url = base() + "/Users"
		acked.Range(func(id, name any) bool {
			status, m, err := do("GET", url+"/"+id.(string), "")
			if err != nil || status != 200 || m["userName"] != name {
				t.Fatalf("round %d: user %s (%s) answered 201 before the kill, then %d %v %v", round, id, name, status, m, err)
			}
			return true
		})
		status, list, err := do("GET", url+"?count=1", "")
		if err != nil || status != 200 {
			t.Fatalf("list: %d %v", status, err)
		}
		d.stop()
		total := int64(list["totalResults"].(float64))
		checkAudience(t, data, total)
		t.Logf("round %d: %d creates answered 201 before the kill, %d users after the restart", round, ok.Load(), total)
	}
}

// checkAudience opens the store: the audience holds as many active
// recipients as the endpoint lists users, and a rebuild changes nothing.
func checkAudience(t *testing.T, data string, users int64) {
	t.Helper()
	ctx := context.Background()
	st, org, err := dataStore(t, data)
	defer st.Close()
	if err != nil {
		t.Fatal(err)
	}
	counts, err := st.RecipientCounts(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.StatusActive] != users {
		t.Fatalf("%d active recipients, the endpoint lists %d users", counts[store.StatusActive], users)
	}
	rep, err := ingest.New(st).Rebuild(ctx, schema.DefaultOrg, ingest.Options{DryRun: true})
	if err != nil || rep.Differed != 0 {
		t.Fatalf("rebuild: %+v %v", rep, err)
	}
}
