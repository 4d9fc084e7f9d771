package sftpserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"
)

// BenchmarkCiphers measures x/crypto's SSH transport alone (a Go client
// sending to a Go server over loopback, no SFTP, no disk) with each cipher
// an OpenSSH client could end up with, to back the choice of
// DefaultCiphers: chacha20-poly1305 (OpenSSH's first choice, pure Go here),
// aes128-ctr with hmac-sha2-256-etm (what OpenSSH picks from
// DefaultCiphers), and aes128-gcm.
func BenchmarkCiphers(b *testing.B) {
	_, hk, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(hk)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, cipher, mac string }{
		{"chacha20-poly1305", ssh.CipherChaCha20Poly1305, ssh.HMACSHA256ETM},
		{"aes128-ctr+hmac-sha2-256-etm", ssh.CipherAES128CTR, ssh.HMACSHA256ETM},
		{"aes128-gcm", ssh.CipherAES128GCM, ssh.HMACSHA256ETM},
	} {
		b.Run(c.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				defer nc.Close()
				sc := &ssh.ServerConfig{NoClientAuth: true}
				sc.AddHostKey(signer)
				_, chans, reqs, err := ssh.NewServerConn(nc, sc)
				if err != nil {
					done <- err
					return
				}
				go ssh.DiscardRequests(reqs)
				nch := <-chans
				ch, creqs, err := nch.Accept()
				if err != nil {
					done <- err
					return
				}
				go ssh.DiscardRequests(creqs)
				_, err = io.Copy(io.Discard, ch)
				done <- err
			}()
			client, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{
				User: "bench", HostKeyCallback: ssh.InsecureIgnoreHostKey(),
				Config: ssh.Config{Ciphers: []string{c.cipher}, MACs: []string{c.mac}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			ch, reqs, err := client.OpenChannel("session", nil)
			if err != nil {
				b.Fatal(err)
			}
			go ssh.DiscardRequests(reqs)
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := ch.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			ch.CloseWrite()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
