package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Kinds of targets.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
	KindEmail   = "email"
)

// Target is where events go, its secrets read.
type Target struct {
	Name string
	Kind string
	// Org is the organisation whose events it gets; "*" every one's.
	Org string
	// Events are the kinds it wants; empty: every kind.
	Events []string
	// FailingAfter is how many failed runs of a source in a row make it
	// "failing" for this target (default 3).
	FailingAfter int
	// URL is the webhook's or Slack's (a Slack URL is a secret).
	URL string
	// Secret signs webhook bodies (Muster-Signature); empty: unsigned.
	Secret string
	Email  *Email
}

// Email is a target's SMTP settings.
type Email struct {
	// Addr is the server's host:port.
	Addr string
	From string
	To   []string
	// Username and Password log in (AUTH PLAIN), only over TLS; empty
	// Username: no login.
	Username, Password string
	// TLS is TLSStartTLS (default), TLSImplicit (port 465) or TLSNone
	// (a relay on this machine only).
	TLS string
	// RootCAs verifies the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
}

// TLS modes of an Email target.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// wants reports whether the target gets events of kind.
func (t *Target) wants(kind string) bool {
	if kind == Test || len(t.Events) == 0 {
		return true
	}
	for _, k := range t.Events {
		if k == kind {
			return true
		}
	}
	return false
}

// SignatureHeader is the webhook's signature header, as WorkOS signs its
// own: "t=<unix ms>, v1=<hex HMAC-SHA256 of "<t>.<body>">".
const SignatureHeader = "Muster-Signature"

// Sign returns the signature header's value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ", v1=" + hex.EncodeToString(mac.Sum(nil))
}

// permanent marks a failure retrying will not cure (the receiver refused
// the request as such).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// IsPermanent reports whether a delivery error will not pass on retry.
func IsPermanent(err error) bool { return errors.As(err, new(permanent)) }

// Deliver makes one attempt to tell t about ev. An error for which
// IsPermanent is true is not worth retrying. userAgent names muster.
func Deliver(ctx context.Context, client *http.Client, t Target, ev Event, userAgent string) error {
	switch t.Kind {
	case KindWebhook:
		body, err := json.Marshal(ev)
		if err != nil {
			return permanent{err}
		}
		h := http.Header{"Content-Type": {"application/json"}, "Muster-Event": {ev.Kind}, "Muster-Event-Id": {ev.ID}}
		if t.Secret != "" {
			h.Set(SignatureHeader, Sign(t.Secret, time.Now(), body))
		}
		return post(ctx, client, t.URL, h, body, userAgent)
	case KindSlack:
		body, err := json.Marshal(slackMessage(ev))
		if err != nil {
			return permanent{err}
		}
		return post(ctx, client, t.URL, http.Header{"Content-Type": {"application/json"}}, body, userAgent)
	case KindEmail:
		if t.Email == nil {
			return permanent{errors.New("no SMTP settings")}
		}
		return sendMail(ctx, t.Email, ev)
	}
	return permanent{fmt.Errorf("unknown target kind %q", t.Kind)}
}

// slackMessage is an incoming webhook's message: a text (the fallback and
// the notification) and the same as a section block.
func slackMessage(ev Event) map[string]any {
	text := "*" + slackEscape(ev.Title()) + "*\n" + slackEscape(ev.Text())
	return map[string]any{"text": text, "blocks": []any{
		map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": truncate(text, 2900)}},
	}}
}

// slackEscape escapes what Slack reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// post sends body; 2xx is delivered, 408, 429 and 5xx are worth a retry,
// other answers are refusals.
func post(ctx context.Context, client *http.Client, url string, h http.Header, body []byte, userAgent string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return permanent{fmt.Errorf("bad URL: %w", err)}
	}
	req.Header = h
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry a secret (Slack's does): say what failed, not where.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	}
	return permanent{err}
}

// sendMail sends ev as a plain text mail. The connection is TLS from the
// start, or upgraded with STARTTLS (required unless TLS is "none", which
// the config allows only for a relay on this machine).
func sendMail(ctx context.Context, m *Email, ev Event) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return permanent{err}
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	tlsConf := &tls.Config{ServerName: host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	if m.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", m.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", m.Addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return smtpErr(err)
	}
	defer c.Close()
	if err := c.Hello("muster"); err != nil {
		return smtpErr(err)
	}
	if m.TLS == "" || m.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent{errors.New("smtp: the server offers no STARTTLS (set tls = \"tls\" for port 465)")}
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return permanent{fmt.Errorf("smtp: starttls: %w", err)}
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return smtpErr(fmt.Errorf("login: %w", err))
		}
	}
	if err := c.Mail(m.From); err != nil {
		return smtpErr(err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return smtpErr(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(err)
	}
	if _, err := w.Write(message(m, ev)); err != nil {
		return smtpErr(err)
	}
	if err := w.Close(); err != nil {
		return smtpErr(err)
	}
	return c.Quit()
}

// smtpErr marks a 5xx answer as a refusal; 4xx and network errors are
// worth a retry.
func smtpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent{fmt.Errorf("smtp: %w", err)}
	}
	return fmt.Errorf("smtp: %w", err)
}

// message is ev as an RFC 5322 mail: headers (no line breaks from values),
// a quoted-printable UTF-8 body.
func message(m *Email, ev Event) []byte {
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", clean(m.From))
	fmt.Fprintf(&b, "To: %s\r\n", clean(strings.Join(m.To, ", ")))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", clean("[muster] "+ev.Title())))
	fmt.Fprintf(&b, "Date: %s\r\n", ev.Time.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@muster>\r\n", ev.ID)
	fmt.Fprintf(&b, "X-Muster-Event: %s\r\n", clean(ev.Kind))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(ev.Text(), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}
