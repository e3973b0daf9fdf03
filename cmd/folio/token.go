package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/foliodocs/folio/web"
)

// runToken prints a token signed with the configured secret, for testing
// and scripts: folio token --doc D --role edit --name Ann --ttl 1h.
func runToken(_ context.Context, e env) error {
	var cfg Config
	fs := flag.NewFlagSet("folio token", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	doc := fs.String("doc", "", `document id, or "*" for every document (required)`)
	role := fs.String("role", "edit", "view, edit or admin")
	name := fs.String("name", "", "display name others see (optional)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	bindSecret(fs, &cfg)
	fs.Usage = func() {
		usageFor(fs, "folio token --doc D [--role view|edit|admin] [--name N] [--ttl 1h]",
			"Print a token for a document, signed with the server's secret (--secret, --secret-file or their environment twins).",
			secretFlag)
	}
	if err := fs.Parse(e.args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 || *doc == "" {
		fs.Usage()
		return errUsage
	}
	if err := applySecretEnv(fs, e.getenv); err != nil {
		return err
	}
	auth, err := cfg.tokenAuth()
	if err != nil {
		return err
	}
	if auth == nil {
		return errors.New("no secret configured: set FOLIO_SECRET, FOLIO_SECRET_FILE, --secret or --secret-file")
	}
	tok, err := auth.Mint(web.TokenSpec{Doc: *doc, Role: *role, Name: *name, TTL: *ttl})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(e.stdout, tok)
	return err
}

// secretFlag reports whether a flag of folio token (or backup) has an
// environment twin: only the secret's do, so that FOLIO_* meant for the
// server never shapes a token.
func secretFlag(name string) bool { return name == "secret" || name == "secret-file" }

// secretOnCommandLine reports whether --secret or --secret-file is among the
// flags set on the command line. The two choose one secret, so a flag for
// either wins over both environment twins (a FOLIO_SECRET left in the
// environment does not collide with --secret-file).
func secretOnCommandLine(set map[string]bool) bool { return set["secret"] || set["secret-file"] }

// applySecretEnv sets --secret and --secret-file from their environment twins
// unless either is given as a flag (the other flags of fs have no twins).
func applySecretEnv(fs *flag.FlagSet, getenv func(string) string) error {
	only := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if secretFlag(f.Name) {
			only.Var(f.Value, f.Name, f.Usage)
		}
	})
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	only.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && !secretOnCommandLine(set) {
			errs = append(errs, f.Value.Set(v))
		}
	})
	return errors.Join(errs...)
}
