package main

import (
	"context"
	"fmt"

	"muster/cmd/muster/api"
	"muster/schema"
)

// cmdToken makes admin API tokens: `muster token new`.
func cmdToken(_ context.Context, e *env, args []string) error {
	const usage = "token new -name NAME [-org ORG|*] [-role viewer|admin] | token new -scim -source NAME [-org ORG]"
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, usage)
	}
	if args[0] != "new" {
		return usagef("unknown token command %q: usage: muster %s", args[0], usage)
	}
	fs := newFlagSet(e, "token new", "")
	scimFlag := fs.Bool("scim", false, "a token for a scim source (the IdP's bearer token); with -source")
	source := fs.String("source", "", "with -scim: the scim source the token is for")
	name := fs.String("name", "", "who holds the token (recorded with every write it makes); required")
	org := fs.String("org", schema.DefaultOrg, `the organisation it sees, or "*" for an operator token spanning all`)
	role := fs.String("role", string(api.RoleViewer), "viewer (reads) or admin (also approves, rejects, rolls back, syncs)")
	asJSON := fs.Bool("json", false, "print JSON for scripts: the token, its name, org, role, hash and the config table")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *scimFlag || *source != "" {
		return scimToken(e, fs.NArg(), *source, *org)
	}
	switch {
	case fs.NArg() != 0:
		return usagef("token new takes no arguments")
	case !schema.ValidName(*name):
		return usagef("-name %q: use letters, digits, '.', '_', '-', '@' (at most 64)", *name)
	case *org != api.AllOrgs && !schema.ValidName(*org):
		return usagef("-org %q is not an organisation name (or \"*\")", *org)
	case *role != string(api.RoleViewer) && *role != string(api.RoleAdmin):
		return usagef("-role %q is not viewer or admin", *role)
	}
	secret, hash, err := api.NewToken()
	if err != nil {
		return err
	}
	table := fmt.Sprintf("[[http.tokens]]\nname = %q\norg  = %q\nrole = %q\nhash = %q\n", *name, *org, *role, hash)
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"token": secret, "name": *name, "org": *org, "role": *role, "hash": hash,
			"config": table})
	}
	fmt.Fprintf(e.stdout, "token (shown only now; give it to %s and keep it secret):\n\n  %s\n\n", *name, secret)
	fmt.Fprintf(e.stdout, "add to the config (only the hash is kept), then reload muster serve (kill -HUP, or POST /v1/reload):\n\n")
	fmt.Fprint(e.stdout, table)
	return nil
}

// scimToken makes a scim source's bearer token: the IdP sends it, the
// config keeps its hash as the source's token_hash.
func scimToken(e *env, nargs int, source, org string) error {
	switch {
	case nargs != 0:
		return usagef("token new takes no arguments")
	case !schema.ValidName(source):
		return usagef("-source %q: name the scim source (letters, digits, '.', '_', '-', '@', at most 64)", source)
	case !schema.ValidName(org):
		return usagef("-org %q is not an organisation name", org)
	}
	secret, hash, err := api.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token (shown only now; paste it into the IdP as the Secret Token / API token, and keep it secret):\n\n  %s\n\n", secret)
	fmt.Fprintf(e.stdout, "tenant URL (the SCIM base URL): https://HOST:PORT/scim/v2/%s/%s\n\n", org, source)
	fmt.Fprintf(e.stdout, "add to the config (only the hash is kept), then restart muster serve:\n\n")
	fmt.Fprintf(e.stdout, "[[sources]]\nname       = %q\norg        = %q\nkind       = \"scim\"\ntoken_hash = %q\n", source, org, hash)
	return nil
}
