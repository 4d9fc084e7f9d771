package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"muster/cmd/muster/api"
	"muster/schema"
	"muster/store"
)

// cookieName is the session cookie.
const cookieName = "muster_session"

// session is what the signed cookie holds. It names the token, never its
// secret: the token is looked up again on every request, so a token
// removed from the config (or replaced under the same name) ends the
// sessions made with it.
type session struct {
	ID     string `json:"id"`
	Token  string `json:"t"`
	Hash   string `json:"h"` // the first 8 bytes of the token's hash
	Org    string `json:"o,omitempty"`
	TZ     string `json:"z,omitempty"`
	Issued int64  `json:"i"`
	Seen   int64  `json:"s"`
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

func tokenTag(t *api.Token) string { return hex.EncodeToString(t.Hash[:8]) }

// seal signs a session: base64(JSON) "." base64(HMAC-SHA256).
func (c *Console) seal(s *session) string {
	b, _ := json.Marshal(s)
	mac := hmac.New(sha256.New, c.key)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// open reads a cookie's session if its signature holds and it has not
// expired (idle, too old) or been signed out.
func (c *Console) open(ctx context.Context, v string) (*session, bool, error) {
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false, nil
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, false, nil
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write(b)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, false, nil
	}
	var s session
	if json.Unmarshal(b, &s) != nil || s.ID == "" {
		return nil, false, nil
	}
	now := c.cfg.Now()
	if now.Sub(time.Unix(s.Seen, 0)) > c.cfg.IdleTimeout || now.Sub(time.Unix(s.Issued, 0)) > c.cfg.MaxAge {
		return nil, false, nil
	}
	c.mu.Lock()
	_, out := c.revoked[s.ID]
	c.mu.Unlock()
	if !out {
		// Signed out here or by another instance sharing the store, before
		// or after a restart: the store says.
		var err error
		if out, err = c.cfg.Store.SignedOut(ctx, s.ID); err != nil {
			return nil, false, err
		}
		if out {
			c.remember(s.ID, s.Issued)
		}
	}
	return &s, !out, nil
}

// remember keeps a signed-out session id in memory until it would have
// expired (a cache of the store's sign-outs: they stay signed out).
func (c *Console) remember(id string, issued int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now().Unix()
	if len(c.revoked) > 10_000 {
		for k, until := range c.revoked {
			if until < now {
				delete(c.revoked, k)
			}
		}
	}
	c.revoked[id] = issued + int64(c.cfg.MaxAge/time.Second)
}

// setCookie sends the session: HttpOnly, SameSite=Strict, and Secure when
// the request came over TLS (directly or through a proxy that says so).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, s *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: c.seal(s), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// req is a console request with its signed-in session.
type req struct {
	*http.Request
	sess  *session
	token *api.Token
	org   store.Org
	loc   *time.Location
}

func (r *req) admin() bool { return r.token.Can(api.RoleAdmin) }

// by is how the console's writes are recorded in the history.
func (r *req) by() string { return "console:" + r.token.Name }

type handler func(w http.ResponseWriter, r *req) error

// current returns the request's live session and its token, or nil; an
// error when the store cannot say whether the session was signed out.
func (c *Console) current(r *http.Request) (*session, *api.Token, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil, nil
	}
	s, ok, err := c.open(r.Context(), ck.Value)
	if !ok || err != nil {
		return nil, nil, err
	}
	t, ok := c.cfg.Auth.TokenNamed(s.Token)
	if !ok || tokenTag(t) != s.Hash {
		return nil, nil, nil
	}
	return s, t, nil
}

// session wraps a handler that needs a signed-in person (any role, any or
// no organisation chosen yet).
func (c *Console) session(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, t, err := c.current(r)
		if err != nil {
			c.renderError(w, r, nil, err)
			return
		}
		if s == nil {
			c.toSignin(w, r)
			return
		}
		c.touch(w, r, s)
		rq := &req{Request: r, sess: s, token: t, loc: location(s.TZ)}
		if err := fn(w, rq); err != nil {
			c.renderError(w, r, rq, err)
		}
	})
}

// page wraps a page or action: a live session, the role (checked before
// anything is looked up, as the API does), then the organisation.
func (c *Console) page(role api.Role, fn handler) http.Handler {
	return c.session(func(w http.ResponseWriter, r *req) error {
		if !r.token.Can(role) {
			return schema.Errorf(schema.EForbidden, "you are signed in with %s, a %s token: this needs an %s token",
				r.token.Name, r.token.Role, role)
		}
		if r.token.Org == api.AllOrgs && r.sess.Org == "" {
			http.Redirect(w, r.Request, "/org?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		}
		org, err := c.cfg.Auth.OrgOf(r.Context(), r.token, r.sess.Org)
		if err != nil {
			return err
		}
		r.org = org
		return fn(w, r)
	})
}

// touch renews the idle expiry, at most once a minute.
func (c *Console) touch(w http.ResponseWriter, r *http.Request, s *session) {
	now := c.cfg.Now().Unix()
	if now-s.Seen >= 60 {
		s.Seen = now
		c.setCookie(w, r, s)
	}
}

func (c *Console) toSignin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		c.renderError(w, r, nil, schema.Errorf(schema.EUnauthorized, "your session has ended: sign in again"))
		return
	}
	http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// localPath keeps a redirect target on this site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if s, _, _ := c.current(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "signin", "Sign in", map[string]any{"Next": localPath(r.URL.Query().Get("next"))})
}

// signin checks the token with the API's own check and starts a session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := localPath(r.PostFormValue("next"))
	t, err := c.cfg.Auth.Authenticate(secret)
	if secret == "" {
		err = schema.Errorf(schema.EUnauthorized, "paste your API token")
	}
	if err != nil && secret != "" {
		if limited, wait := c.cfg.Auth.Throttled(r); limited {
			// As /v1 answers: a valid token still signs in, guesses wait.
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
			c.render(w, r, nil, http.StatusTooManyRequests, "signin", "Sign in", map[string]any{"Next": next,
				"Error": fmt.Sprintf("Too many refused tokens from your address: try again in %d s.", int(wait.Seconds()+0.999))})
			return
		}
	}
	if err != nil {
		if secret != "" {
			c.cfg.Auth.Refused(r, err)
		}
		c.render(w, r, nil, http.StatusUnauthorized, "signin", "Sign in",
			map[string]any{"Next": next, "Error": "That token was not accepted: " + schema.ErrorMessageOf(err)})
		return
	}
	now := c.cfg.Now().Unix()
	s := &session{ID: hex.EncodeToString(randomBytes(16)), Token: t.Name, Hash: tokenTag(t), Issued: now, Seen: now,
		TZ: zoneName(r.PostFormValue("tz"))}
	if t.Org != api.AllOrgs {
		s.Org = t.Org
	}
	c.setCookie(w, r, s)
	c.log.Info("signed in", "token", t.Name, "role", string(t.Role), "remote", r.RemoteAddr)
	if t.Org == api.AllOrgs {
		next = "/org?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout ends the session: the cookie is cleared and its id refused until
// it would have expired anyway, so a copy of the cookie is worthless too,
// at every instance sharing the store and after a restart (the store
// keeps the sign-out).
func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	s, t, err := c.current(r)
	if err != nil {
		c.renderError(w, r, nil, err)
		return
	}
	if s != nil {
		until := time.Unix(s.Issued, 0).Add(c.cfg.MaxAge)
		if err := c.cfg.Store.SignOut(r.Context(), s.ID, until); err != nil {
			c.renderError(w, r, nil, err)
			return
		}
		c.remember(s.ID, s.Issued)
		c.log.Info("signed out", "token", t.Name)
	}
	c.clearCookie(w, r)
	http.Redirect(w, r, "/signin?out=1", http.StatusSeeOther)
}

// orgPage lets an operator token choose the organisation to look at.
func (c *Console) orgPage(w http.ResponseWriter, r *req) error {
	names, err := c.cfg.Auth.OrgNames(r.Context(), r.token)
	if err != nil {
		return err
	}
	c.render(w, r.Request, r, http.StatusOK, "org", "Organisation",
		map[string]any{"Orgs": names, "Next": localPath(r.URL.Query().Get("next"))})
	return nil
}

func (c *Console) pickOrg(w http.ResponseWriter, r *req) error {
	name := r.PostFormValue("org")
	if _, err := c.cfg.Auth.OrgOf(r.Context(), r.token, name); err != nil || name == "" {
		return schema.Errorf(schema.ENotFound, "no organisation %q", name)
	}
	r.sess.Org = name
	c.setCookie(w, r.Request, r.sess)
	http.Redirect(w, r.Request, localPath(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// zoneName keeps a time zone name the browser reported if Go knows it.
func zoneName(tz string) string {
	if tz == "" || len(tz) > 64 {
		return ""
	}
	if _, ok := cachedLocation(tz); !ok {
		return ""
	}
	return tz
}

func location(tz string) *time.Location {
	if tz != "" {
		if l, ok := cachedLocation(tz); ok {
			return l
		}
	}
	return time.UTC
}
