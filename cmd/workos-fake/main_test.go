package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestRunServesSeededDirectory starts the fake as the command does, reads
// its ready line and lists the seeded users through it.
func TestRunServesSeededDirectory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	env := map[string]string{"WORKOS_API_KEY": "sk_test_cmd"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-users", "150", "-groups", "3"}, func(k string) string { return env[k] }, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var ready struct{ URL, DirectoryID string }
	if err := json.Unmarshal(line, &struct {
		URL *string `json:"url"`
		Dir *string `json:"directory_id"`
	}{&ready.URL, &ready.DirectoryID}); err != nil || ready.URL == "" || ready.DirectoryID == "" {
		t.Fatalf("ready line %q: %v", line, err)
	}
	req, _ := http.NewRequest("GET", ready.URL+"/directory_users?limit=100&directory="+ready.DirectoryID, nil)
	req.Header.Set("Authorization", "Bearer sk_test_cmd")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Data         []json.RawMessage
		ListMetadata struct{ After *string } `json:"list_metadata"`
	}
	json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	if res.StatusCode != 200 || len(page.Data) != 100 || page.ListMetadata.After == nil {
		t.Fatalf("status %d, %d users, after %v", res.StatusCode, len(page.Data), page.ListMetadata.After)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
