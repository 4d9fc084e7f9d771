package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server for the tests, on 127.0.0.1: EHLO,
// STARTTLS (with a certificate of its own, which CA verifies), AUTH PLAIN
// (refused before TLS, as real servers do), MAIL, RCPT, DATA, RSET, QUIT.
type smtpServer struct {
	t        testing.TB
	ln       net.Listener
	tls      *tls.Config
	CA       *x509.CertPool
	User     string
	Password string
	// NoSTARTTLS: the server does not offer it. Fail4xx: answer the next
	// n MAIL commands 451.
	NoSTARTTLS bool

	mu       sync.Mutex
	fail4xx  int
	Messages []smtpMessage
	wg       sync.WaitGroup
}

// smtpMessage is a mail received: the envelope, whether the session was
// upgraded to TLS and logged in, and the data.
type smtpMessage struct {
	From, Auth string
	To         []string
	TLS        bool
	Data       string
}

// MustSMTPServer starts a server, stopped at the end of the test.
func MustSMTPServer(t testing.TB) *smtpServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, CA: pool, User: "muster", Password: "s3cret",
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.session(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) Addr() string { return s.ln.Addr().String() }

func (s *smtpServer) FailNext(n int) {
	s.mu.Lock()
	s.fail4xx = n
	s.mu.Unlock()
}

func (s *smtpServer) Received() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.Messages...)
}

func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	say("220 localhost ESMTP test")
	var msg smtpMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			exts := []string{"250-localhost", "250-8BITMIME"}
			if !s.NoSTARTTLS && !msg.TLS {
				exts = append(exts, "250-STARTTLS")
			}
			if msg.TLS {
				exts = append(exts, "250-AUTH PLAIN")
			}
			exts = append(exts, "250 SIZE 1000000")
			for _, e := range exts {
				w.WriteString(e + "\r\n")
			}
			w.Flush()
		case "STARTTLS":
			if s.NoSTARTTLS || msg.TLS {
				say("502 not offered")
				continue
			}
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, w = tc, bufio.NewReader(tc), bufio.NewWriter(tc)
			msg = smtpMessage{TLS: true}
		case "AUTH":
			if !msg.TLS {
				say("530 must issue STARTTLS first")
				continue
			}
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if strings.ToUpper(mech) != "PLAIN" || len(parts) != 3 || parts[1] != s.User || parts[2] != s.Password {
				say("535 authentication failed")
				continue
			}
			msg.Auth = parts[1]
			say("235 ok")
		case "MAIL":
			s.mu.Lock()
			fail := s.fail4xx > 0
			if fail {
				s.fail4xx--
			}
			s.mu.Unlock()
			if fail {
				say("451 try again later")
				continue
			}
			from, ok := strings.CutPrefix(strings.ToUpper(arg), "FROM:")
			if !ok {
				say("501 syntax")
				continue
			}
			from, _, _ = strings.Cut(strings.TrimSpace(from), " ") // parameters such as BODY=8BITMIME
			msg.From = strings.ToLower(strings.Trim(from, "<>"))
			say("250 ok")
		case "RCPT":
			to, ok := strings.CutPrefix(strings.ToUpper(arg), "TO:")
			if !ok {
				say("501 syntax")
				continue
			}
			msg.To = append(msg.To, strings.ToLower(strings.Trim(to, "<> ")))
			say("250 ok")
		case "DATA":
			say("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			msg.Data = data.String()
			s.mu.Lock()
			s.Messages = append(s.Messages, msg)
			s.mu.Unlock()
			msg = smtpMessage{TLS: msg.TLS, Auth: msg.Auth}
			say("250 queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("500 unknown command")
		}
	}
}
