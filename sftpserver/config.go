package sftpserver

import (
	"log/slog"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"muster/schema"
)

// Config configures a Server. Zero values get the defaults shown.
type Config struct {
	// Addr is the TCP address to listen on. Default ":2022". Tests use
	// "127.0.0.1:0" and ask Server.Addr.
	Addr string
	// Dir holds the server's state: host keys in Dir/hostkeys and one home
	// per account in Dir/home/<org>/<account>/ with inbox/, reports/ and a
	// private .staging/. Required.
	Dir string
	// Accounts are the logins. They can be replaced while running with
	// Server.SetAccounts.
	Accounts []Account
	// OnUpload is called once for every upload committed into an inbox under
	// a normal (non-temporary) name, after the file is synced and hashed,
	// when it is handed over: its SFTP session has ended, or it has been
	// left untouched for Settle. Until then it stays in the inbox for its
	// client. An upload its client replaced (or removed, or renamed to a
	// temporary name) before that is announced with Superseded set, and no
	// file. Calls come from one goroutine, one at a time, in order; a call
	// should be quick (take the file away, queue it). Close waits for the
	// calls of the sessions it ends. Nil means uploads are only logged.
	OnUpload func(Upload)
	// OnBan, if set, is told of each ban as it is made (notifications). It
	// is called on the connection's goroutine and must not block.
	OnBan func(Ban)
	// Settle is how long a committed upload stays untouched in its inbox,
	// while its session goes on, before it is handed over. Default
	// DefaultSettle.
	Settle time.Duration
	// Logger receives the server's structured log. Default slog.Default().
	Logger *slog.Logger

	// Ciphers are the SSH ciphers offered, in preference order. The client's
	// order decides which is used. Default DefaultCiphers.
	Ciphers []string

	// HandshakeTimeout bounds key exchange plus authentication. Default 60s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection with no SFTP traffic for this long.
	// Default 15m.
	IdleTimeout time.Duration
	// KeepAliveInterval is how often a keepalive is sent; a connection that
	// leaves KeepAliveMax in a row unanswered is closed. Default 30s and 3.
	KeepAliveInterval time.Duration
	KeepAliveMax      int

	// Limits bound connections, sessions, open files and failed logins;
	// Server.Reload swaps them at run time.
	Limits

	// FailDelay is waited after each failed password, and before refusing a
	// key from an address that already failed for that account. Default 1s.
	FailDelay time.Duration

	// TempMaxAge is how long a temporary-named file (see schema.IsTempName) may sit
	// untouched in an inbox before it is deleted. Default 48h.
	TempMaxAge time.Duration
	// CloseTimeout bounds how long Close waits for connections and
	// announcements to finish. Default 10s.
	CloseTimeout time.Duration

	// MinFreeSpace is the free space, in bytes, below which the file system
	// holding Dir takes no more uploads: opening one is refused, and one in
	// progress fails, with "the server is short of disk space", checked on
	// open and every 64 MiB written. It keeps uploads from filling the disk
	// the rest of the system (the audience store) writes to. Default
	// 256 MiB; negative turns the check off.
	MinFreeSpace int64

	now       func() time.Time                // the defender's clock; tests move it
	freeSpace func(dir string) (int64, error) // free bytes under dir; tests replace it
	spaceStep int64                           // bytes written between checks; tests shrink it
}

// DefaultSettle is how long a committed upload stays in its inbox,
// untouched, while its session goes on: long enough for what clients do
// right after closing a file (rclone and WinSCP set its time, paramiko
// stats it, a script lists it), short enough that a session left open
// does not hold an export back for long.
const DefaultSettle = 10 * time.Second

// DefaultCiphers is the cipher list offered by default: the AEAD and CTR
// ciphers x/crypto implements with hardware AES. chacha20-poly1305 is left
// out on purpose: x/crypto has no assembly for it on amd64, and its
// transport moves about half the bytes per CPU second of aes128-ctr with
// hmac-sha2-256-etm (BenchmarkCiphers). OpenSSH clients, which list it
// first, then pick aes128-ctr with hmac-sha2-256-etm; every current client
// offers AES-CTR or AES-GCM (OpenSSH since 5.x, libssh2 and so curl, PuTTY
// and WinSCP, JSch, paramiko, Go). AES-CTR stays because libssh2 before
// 1.11 has no AES-GCM. Set Config.Ciphers to
// ssh.SupportedAlgorithms().Ciphers to offer chacha20 again.
var DefaultCiphers = []string{
	ssh.CipherAES128GCM, ssh.CipherAES256GCM,
	ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR,
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	if c.Addr == "" {
		c.Addr = ":2022"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Ciphers) == 0 {
		c.Ciphers = slices.Clone(DefaultCiphers)
	}
	def(&c.HandshakeTimeout, 60*time.Second)
	def(&c.IdleTimeout, 15*time.Minute)
	def(&c.KeepAliveInterval, 30*time.Second)
	defInt(&c.KeepAliveMax, 3)
	c.Limits.setDefaults()
	def(&c.FailDelay, time.Second)
	def(&c.TempMaxAge, 48*time.Hour)
	def(&c.CloseTimeout, 10*time.Second)
	def(&c.Settle, DefaultSettle)
	if c.now == nil {
		c.now = time.Now
	}
	if c.MinFreeSpace == 0 {
		c.MinFreeSpace = 256 << 20
	}
	if c.freeSpace == nil {
		c.freeSpace = freeSpace
	}
	if c.spaceStep == 0 {
		c.spaceStep = 64 << 20
	}
}

// Validate checks the config; errors name the field.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return schema.Errorf(schema.EInvalid, "sftp.dir: required (where host keys and account homes live)")
	}
	supported := ssh.SupportedAlgorithms().Ciphers
	for _, ci := range c.Ciphers {
		if !slices.Contains(supported, ci) {
			return schema.Errorf(schema.EInvalid, "sftp.ciphers: %q is not a supported secure cipher (%v)", ci, supported)
		}
	}
	if c.KeepAliveMax < 0 {
		return schema.Errorf(schema.EInvalid, "sftp.keepalive_max: %d is negative", c.KeepAliveMax)
	}
	if _, err := compileLimits(c.Limits); err != nil {
		return err
	}
	_, err := compileAccounts(c.Accounts)
	return err
}
