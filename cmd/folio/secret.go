package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/foliodocs/folio/web"
)

// maxSecretFile bounds what --secret-file reads.
const maxSecretFile = 4096

// bindSecret declares --secret and --secret-file (env FOLIO_SECRET,
// FOLIO_SECRET_FILE).
func bindSecret(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Secret, "secret", c.Secret, fmt.Sprintf(
		"token signing secret (HS256, at least %d bytes); when set, every document request needs a token. "+
			"Prefer FOLIO_SECRET or --secret-file: flags are visible to other local users", web.MinSecretBytes))
	fs.StringVar(&c.SecretFile, "secret-file", c.SecretFile, "file holding the token signing secret (trailing newline ignored)")
}

// redact hides a secret in logs, telling only whether it is set.
func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// secretBytes returns the configured secret (nil when access control is
// off), reading --secret-file when given.
func (c Config) secretBytes() ([]byte, error) {
	if c.Secret != "" && c.SecretFile != "" {
		return nil, errors.New("--secret and --secret-file are exclusive")
	}
	if c.SecretFile == "" {
		if c.Secret == "" {
			return nil, nil
		}
		return []byte(c.Secret), nil
	}
	f, err := os.Open(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes", c.SecretFile, maxSecretFile)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("secret file %s is empty", c.SecretFile)
	}
	return b, nil
}

// tokenAuth is the configured token verifier, nil when no secret is set.
func (c Config) tokenAuth() (*web.TokenAuth, error) {
	secret, err := c.secretBytes()
	if err != nil || secret == nil {
		return nil, err
	}
	return web.NewTokenAuth(secret, nil)
}
