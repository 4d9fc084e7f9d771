package scim

import (
	"strings"
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	for _, c := range []struct {
		in, want string // want: the conditions for users, or "error: ..." / "refused"
	}{
		{`userName eq "bjensen@example.com"`, `userName=bjensen@example.com`},
		{`userName Eq "a"`, `userName=a`},
		{`USERNAME eq "a"`, `userName=a`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`, `userName=a`},
		{`externalId eq "0a21" and userName eq "b"`, `externalId=0a21 userName=b`},
		{`emails[type eq "work"].value eq "x@y.z"`, `email=x@y.z`},
		{`emails.value eq "x@y.z"`, `email=x@y.z`},
		{`emails eq "x@y.z"`, `email=x@y.z`},
		{`id eq "42"`, `id=42`},
		{`(userName eq "a")`, `userName=a`},
		{`emails[type eq "home"].value eq "x"`, "refused"},
		{`userName eq "a" or userName eq "b"`, "refused"},
		{`not (userName eq "a")`, "refused"},
		{`displayName eq "G"`, "refused"},
		{`userName sw "a"`, "refused"},
		{`active eq true`, "refused"},
		{`externalId eq jyoung`, "error"},
		{`userName eq "a`, "error"},
		{`userName "a"`, "error"},
		{`userName eq`, "error"},
		{`emails[type eq "work"`, "error"},
		{`userName eq "a" and`, "error"},
		{``, "error"},
	} {
		x, err := ParseFilter(c.in)
		got := ""
		switch {
		case err != nil:
			got = "error"
		default:
			conds, cerr := conditions(TypeUser, x)
			if cerr != nil {
				got = "refused"
			}
			for _, cd := range conds {
				got = strings.TrimSpace(got + " " + cd.Field + "=" + cd.Value)
			}
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q (%v)", c.in, got, c.want, err)
		}
	}
}

func TestParsePath(t *testing.T) {
	for _, c := range []struct{ in, urn, attr, sub string }{
		{`members[value eq "7f4b"]`, "", "members", ""},
		{`emails[type eq "work"].value`, "", "emails", "value"},
		{`name.givenName`, "", "name", "givenName"},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`, URNEnterprise, "employeeNumber", ""},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, URNEnterprise, "manager", "value"},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, URNEnterprise, "", ""},
		{`URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:department`, URNEnterprise, "department", ""},
	} {
		p, err := ParsePath(c.in)
		if err != nil || p.URN != c.urn || p.Attr != c.attr || p.Sub != c.sub {
			t.Errorf("%s: %+v %v", c.in, p, err)
		}
	}
	for _, bad := range []string{``, `emails[`, `9lives`, `name.`, `a b`} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a"`, `emails[type eq "work"].value eq "x@y"`, `a eq 1 and (b pr or not (c eq null))`, `x[y eq "\""]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseFilter(s)
		if err == nil && x == nil {
			t.Fatalf("%q: no expression and no error", s)
		}
		if err == nil {
			_, _ = conditions(TypeUser, x)
			_ = matches(x, map[string]any{"value": "a", "type": "work"})
		}
	})
}

func TestThrottle(t *testing.T) {
	var th throttle
	t0 := time.Unix(1000, 0)
	if n, ok := th.allow(t0); !ok || n != 0 {
		t.Fatal("the first event is not let through")
	}
	for i := range 5 {
		if _, ok := th.allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("event %d within the second let through", i)
		}
	}
	if n, ok := th.allow(t0.Add(1500 * time.Millisecond)); !ok || n != 5 {
		t.Fatalf("after a second: %d %v, want 5 suppressed", n, ok)
	}
}
