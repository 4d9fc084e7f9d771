package sftpserver

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// onlySFTP is what a client asking for a shell or a command is told on its
// stderr. Legacy scp (scp -O) runs "scp -t" through exec and lands here.
const onlySFTP = "muster: this server only offers SFTP; shell, commands and legacy scp (scp -O) are not available. Use sftp, or scp without -O.\r\n"

// session serves one session channel: it accepts exactly one "subsystem
// sftp" request and refuses everything else (exec, shell, pty, env, x11,
// agent forwarding).
func (c *clientConn) session(acc *account, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil || p.Name != "sftp" {
				c.probed("subsystem", "subsystem", clip(p.Name, 32))
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			var drained sync.WaitGroup
			drained.Add(1)
			go func() { defer drained.Done(); refuseAll(reqs) }()
			status := c.serveSFTP(acc, ch)
			exitStatus(ch, status)
			ch.Close()
			drained.Wait()
			return
		case "exec", "shell":
			// Answered as OpenSSH's sshd does under "ForceCommand
			// internal-sftp": the request is taken, nothing runs, the
			// client is told why on stderr and gets exit status 1. A
			// plain refusal would leave it with "exec request failed" and
			// no hint (OpenSSH drops stderr sent before the refusal).
			c.probed(req.Type)
			_ = req.Reply(true, nil)
			_, _ = io.WriteString(ch.Stderr(), onlySFTP)
			exitStatus(ch, 1)
			return
		default: // pty-req, env, x11-req, auth-agent-req@openssh.com, signal...
			if req.Type != "env" && req.Type != "pty-req" {
				c.probed(req.Type)
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// probed logs a refused request (exec, shell, another subsystem...) at
// debug level, once per connection: clients probe for what a server offers
// (rclone asks for md5sum and sha1sum through exec on every upload), which
// is no warning.
func (c *clientConn) probed(typ string, attrs ...any) {
	if c.probeLogged.Swap(true) {
		return
	}
	c.log.Debug("request refused (logged once per connection)", append([]any{"type", typ}, attrs...)...)
}

func refuseAll(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
}

// exitStatus sends the exit status OpenSSH's scp and sftp wait for: without
// it scp exits 1 even after a perfect upload.
func exitStatus(ch ssh.Channel, status uint32) {
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// serveSFTP runs the SFTP protocol on ch until the client ends it, and
// returns the exit status: 0 for a normal end.
func (c *clientConn) serveSFTP(acc *account, ch ssh.Channel) uint32 {
	h, err := c.newHandler(acc)
	if err != nil {
		c.log.Error("cannot open account home", logErr, err)
		return 1
	}
	defer h.close()
	rw := newChannelIO(ch, c.touch)
	// The allocator reuses packet buffers instead of allocating 32 KiB per
	// write request; it cut the server's CPU per uploaded GiB by about a
	// quarter (bench.sh). It is safe here because no handler keeps a slice
	// it is given beyond the call: WriteAt copies or writes synchronously.
	rs := sftp.NewRequestServer(rw, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		sftp.WithStartDirectory("/"), sftp.WithRSAllocator())
	err = rs.Serve()
	rw.stop()
	// Serve has closed the files left open: what this session committed
	// is handed over now.
	c.srv.sessionEnded(h)
	if err == nil || errors.Is(err, io.EOF) {
		return 0
	}
	c.log.Info("sftp session ended", logErr, fmt.Sprint(err))
	return 1
}
