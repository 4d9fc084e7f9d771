// Command bench runs the SFTP drop box alone, for bench.sh: one account with
// the given authorized key, every announced upload printed on stdout as
// "upload NAME SIZE SHA256", until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"muster/sftpserver"
)

func main() {
	dir := flag.String("dir", "", "state directory (host keys, homes)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	user := flag.String("user", "bench", "account name")
	keyFile := flag.String("key", "", "authorized_keys file for the account")
	ciphers := flag.String("ciphers", "", "comma-separated cipher list (default: the server's)")
	verbose := flag.Bool("v", false, "log to stderr")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg := sftpserver.Config{
		Addr: *addr, Dir: *dir,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Accounts: []sftpserver.Account{{Name: *user, Source: "bench",
			AuthorizedKeys: []string{string(key)}, MaxFileSize: 4 << 30}},
		Limits: sftpserver.Limits{MaxConnsPerAddr: 64, MaxSessionsPerAccount: 64},
		OnUpload: func(u sftpserver.Upload) {
			fmt.Printf("upload %s %d %s\n", u.Name, u.Size, u.SHA256)
		},
	}
	if *ciphers != "" {
		cfg.Ciphers = strings.Split(*ciphers, ",")
	}
	srv, err := sftpserver.New(cfg)
	if err == nil {
		err = srv.Open()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", srv.Addr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}
