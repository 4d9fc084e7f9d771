// Command workos-fake serves the workostest fake of the WorkOS Directory Sync
// API as a process, for end-to-end tests of the real muster binary and for
// trying muster without a WorkOS account.
//
//	workos-fake -addr 127.0.0.1:0 -users 1000 -groups 20
//
// It prints one JSON line on stdout once it listens:
// {"url":"http://127.0.0.1:41234","directory_id":"directory_...","organization_id":"org_..."}
// then serves until SIGINT or SIGTERM. The API key it accepts is
// $WORKOS_API_KEY (default sk_test_fake_key); webhooks for every change go to
// -webhook-url signed with $WORKOS_WEBHOOK_SECRET. Tests change the directory
// through the control API under /_fake/ (see ingest/workos/workostest).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"muster/ingest/workos/workostest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h: the usage is printed; asking for help is not an error.
	case err != nil:
		fmt.Fprintln(os.Stderr, "workos-fake:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends; the ready line goes to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("workos-fake", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4100", "address to listen on (127.0.0.1:0 picks a free port)")
	users := fs.Int("users", 0, "seed a directory with this many users")
	groups := fs.Int("groups", 0, "and this many groups")
	inactive := fs.Int("inactive", 0, "of which the last N are inactive")
	domain := fs.String("domain", "example.com", "email domain of seeded users")
	name := fs.String("name", "Acme Okta", "name of the seeded directory")
	rateLimit := fs.Bool("rate-limit", false, "enforce 4 requests/second per directory on /directory_users")
	keyLimit := fs.Int("key-rate-limit", 0, "limit every endpoint to N requests a minute for the key (production: 6000; 0: off)")
	retryAfter := fs.String("retry-after", "", "Retry-After sent with 429 answers")
	legacy := fs.Bool("legacy-metadata", false, "write listMetadata instead of list_metadata")
	deleteInactive := fs.Bool("delete-inactive", false, "deactivating a user deletes it (secure flow)")
	webhookURL := fs.String("webhook-url", "", "POST every event here, signed with $WORKOS_WEBHOOK_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := workostest.Options{APIKey: getenv("WORKOS_API_KEY"), RateLimit: *rateLimit, RetryAfter: *retryAfter,
		KeyRateLimit: *keyLimit}
	if *legacy {
		opts.ListMetadata = workostest.MetadataLegacy
	}
	if *deleteInactive {
		opts.Inactive = workostest.InactiveDelete
	}
	s := workostest.New(opts)
	defer s.Close()
	if *webhookURL != "" {
		secret := getenv("WORKOS_WEBHOOK_SECRET")
		if secret == "" {
			return errors.New("-webhook-url needs $WORKOS_WEBHOOK_SECRET")
		}
		s.Subscribe(*webhookURL, secret)
	}
	ready := map[string]string{}
	if *users > 0 || *groups > 0 {
		res, err := s.Seed(workostest.SeedSpec{Directory: workostest.DirectorySpec{Name: *name, Domain: *domain},
			Users: *users, Groups: *groups, Inactive: *inactive, Domain: *domain})
		if err != nil {
			return err
		}
		ready["directory_id"], ready["organization_id"] = res.Directory.ID, res.Directory.OrganizationID
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ready["url"] = "http://" + ln.Addr().String()
	line, _ := json.Marshal(ready)
	fmt.Fprintln(stdout, string(line))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
