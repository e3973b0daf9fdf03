package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/foliodocs/folio/storage"
	"github.com/foliodocs/folio/web"
)

func runBackup(ctx context.Context, e env) error {
	fs := flag.NewFlagSet("folio backup", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	data := dataFlag(fs, e.getenv)
	defServer := "http://127.0.0.1:8080"
	if v := e.getenv("FOLIO_SERVER"); v != "" {
		defServer = v
	}
	server := fs.String("server", defServer, "base URL of the running server (env FOLIO_SERVER)")
	force := fs.Bool("force", false, "replace <file> when it exists (without it, an existing file is left alone)")
	var cfg Config
	bindSecret(fs, &cfg) // With a secret, the request carries a short admin token.
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: folio backup [--server URL] [--data DIR] [--force] <file>\n\n"+
			"Writes a hot, consistent copy of the database to <file>: through the running server's\n"+
			"GET /api/v1/admin/backup, or, when no server answers at --server, by reading --data directly\n"+
			"(writing nothing to it: a read-only copy works). The copy is written to a temporary file beside\n"+
			"<file>, synced, then put in place, and the directory synced: a failed or interrupted backup leaves\n"+
			"<file> as it was. An existing <file> is replaced only with --force, so that a mistyped name\n"+
			"(or backup typed for restore) cannot overwrite the one good copy, even one that appears while\n"+
			"the backup runs: without --force the copy is linked to <file>, then its temporary name removed;\n"+
			"if that removal fails, the backup is still complete and the command succeeds, with a warning\n"+
			"naming the temporary file left (a second link to <file>, safe to delete). A temporary file\n"+
			"left unused (the one begun before finding no server) that cannot be removed is named in one too,\n"+
			"and so is the scratch copy in $TMPDIR (a full copy of the data) in which a direct copy applies\n"+
			"the journal's ops not yet in the database file, should it outlive the backup.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, e.args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	file := pos[0]
	if err := applySecretEnv(fs, e.getenv); err != nil {
		return err
	}
	token, err := backupToken(cfg)
	if err != nil {
		return err
	}
	err = writeOut(file, nil, e.stderr, *force, func(w io.Writer) error { return backupFromServer(ctx, *server, token, w) })
	if errors.Is(err, syscall.ECONNREFUSED) {
		fmt.Fprintf(e.stderr, "no server at %s; copying %s directly\n", *server, *data)
		// Read-only: the copy holds the journal's records without applying
		// them to the directory copied from (Backup replays them into a
		// scratch copy), which may be a read-only one.
		err = withReadOnlyDB(*data, func(db *storage.DB) error {
			return writeOut(file, nil, e.stderr, *force, func(w io.Writer) error {
				_, err := db.Backup(ctx, w)
				var left *storage.ScratchLeftError
				if errors.As(err, &left) { // w holds the whole backup.
					fmt.Fprintf(e.stderr, "warning: the scratch copy %s (a full copy of the data, safe to delete) could not be removed: %v\n",
						left.Dir, left.Err)
					return nil
				}
				return err
			})
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup written to %s\n", file)
	return nil
}

// backupToken is a short-lived admin token when a secret is configured.
func backupToken(cfg Config) (string, error) {
	auth, err := cfg.tokenAuth()
	if err != nil || auth == nil {
		return "", err
	}
	return auth.Mint(web.TokenSpec{Doc: web.TokenAllDocs, Role: "admin", Name: "folio backup", TTL: 5 * time.Minute})
}

func backupFromServer(ctx context.Context, server, token string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	url := strings.TrimSuffix(server, "/") + "/api/v1/admin/backup"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
