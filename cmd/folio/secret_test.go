package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/foliodocs/folio/web"
)

const cliSecret = "an-example-secret-of-32-bytes-ok"

func TestSecretConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(cliSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string // "" when valid
	}{
		{"flag", []string{"--secret", cliSecret}, nil, ""},
		{"env", nil, map[string]string{"FOLIO_SECRET": cliSecret}, ""},
		{"file from env", nil, map[string]string{"FOLIO_SECRET_FILE": file}, ""},
		{"short", []string{"--secret", "short"}, nil, "at least 32 bytes"},
		{"both", []string{"--secret", cliSecret, "--secret-file", file}, nil, "exclusive"},
		{"both in the environment", nil, map[string]string{"FOLIO_SECRET": cliSecret, "FOLIO_SECRET_FILE": file}, "exclusive"},
		{"file flag over env secret", []string{"--secret-file", file}, map[string]string{"FOLIO_SECRET": "an-old-secret-from-the-environment"}, ""},
		{"secret flag over env file", []string{"--secret", cliSecret}, map[string]string{"FOLIO_SECRET_FILE": "/nonexistent"}, ""},
		{"negative rate", []string{"--write-rate", "-1"}, nil, "--write-rate"},
		{"rate without burst", []string{"--export-burst", "0"}, nil, "--export-rate"},
		{"limit off", []string{"--upgrade-rate", "0"}, nil, ""},
		{"proxies", []string{"--trusted-proxies", "10.0.0.0/8, ::1,192.0.2.7"}, nil, ""},
		{"bad proxy", []string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil, "--trusted-proxies"},
	} {
		cfg, err := parseServe(c.args, envMap(c.env), &stderr)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if p, _ := cfg.trustedProxies(); c.name == "proxies" && fmt.Sprint(p) != "[10.0.0.0/8 ::1/128 192.0.2.7/32]" {
				t.Errorf("proxies %v", p)
			}
			if secret, err := cfg.secretBytes(); c.name != "limit off" && c.name != "proxies" && (err != nil || string(secret) != cliSecret) {
				t.Errorf("%s: secret %q %v", c.name, secret, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for _, f := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		if _, err := (Config{SecretFile: f}).tokenAuth(); err == nil {
			t.Errorf("secret file %s accepted", f)
		}
	}
}

func TestSecretRedactedInLogs(t *testing.T) {
	var logs bytes.Buffer
	cfg := defaultConfig()
	cfg.Secret = cliSecret
	cfg.logTo(zerolog.New(&logs))
	if strings.Contains(logs.String(), cliSecret) || !strings.Contains(logs.String(), `"secret":"[redacted]"`) {
		t.Errorf("configuration line: %s", logs.String())
	}
}

// TestConfigLineDurations: durations are logged as the flags take them,
// not as a bare number whose unit is zerolog's global setting.
func TestConfigLineDurations(t *testing.T) {
	var logs bytes.Buffer
	cfg := defaultConfig()
	cfg.CommitDelay, cfg.IdleUnload = 3*time.Millisecond, 90*time.Second
	cfg.logTo(zerolog.New(&logs))
	for _, want := range []string{`"commit_delay":"3ms"`, `"idle_unload":"1m30s"`, `"shutdown_timeout":"15s"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("configuration line lacks %s: %s", want, logs.String())
		}
	}
}

func TestTokenCommand(t *testing.T) {
	env := envMap(map[string]string{"FOLIO_SECRET": cliSecret})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"token", "--doc", "d", "--role", "view", "--name", "Ann", "--ttl", "2h"}, env, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	auth, err := web.NewTokenAuth([]byte(cliSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.Parse(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Doc != "d" || c.Role != "view" || c.Name != "Ann" || c.ExpiresAt == nil ||
		c.ExpiresAt.Sub(time.Now()) < 119*time.Minute || c.ExpiresAt.Sub(time.Now()) > 2*time.Hour {
		t.Errorf("claims %+v", c)
	}
	// --secret-file on the command line wins over FOLIO_SECRET in the
	// environment, as every flag over its twin.
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(cliSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	oldEnv := envMap(map[string]string{"FOLIO_SECRET": "an-old-secret-left-in-the-environment"})
	if code := run(context.Background(), []string{"token", "--doc", "d", "--secret-file", file}, oldEnv, &stdout, &stderr); code != 0 {
		t.Errorf("--secret-file with FOLIO_SECRET set: exit %d: %s", code, stderr.String())
	} else if _, err := auth.Parse(strings.TrimSpace(stdout.String())); err != nil {
		t.Errorf("--secret-file with FOLIO_SECRET set: token not signed with the file's secret: %v", err)
	}
	// Only the secret has an environment twin, and the help says so: a
	// FOLIO_ROLE or FOLIO_TTL meant to narrow a token would do nothing.
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"token", "--help"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("token --help: exit %d", code)
	}
	help := stdout.String() + stderr.String()
	if !strings.Contains(help, "env FOLIO_SECRET") || strings.Contains(help, "FOLIO_ROLE") || strings.Contains(help, "FOLIO_TTL") {
		t.Errorf("token --help lists environment twins it does not read:\n%s", help)
	}
	for _, bad := range []struct {
		args []string
		env  func(string) string
		code int
	}{
		{[]string{"token"}, env, 2},                                    // no --doc
		{[]string{"token", "--doc", "d"}, envMap(nil), 1},              // no secret
		{[]string{"token", "--doc", "d", "--role", "owner"}, env, 1},   // bad role
		{[]string{"token", "--doc", "../d"}, env, 1},                   // bad id
		{[]string{"token", "--doc", "d", "--ttl", "-1h"}, env, 1},      // bad ttl
		{[]string{"token", "--doc", "d", "--secret", "short"}, env, 1}, // short secret
	} {
		stdout.Reset()
		if code := run(context.Background(), bad.args, bad.env, &stdout, &stderr); code != bad.code || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, want %d; stdout %q", bad.args, code, bad.code, stdout.String())
		}
	}
}

// TestServeWithSecret runs the service with a secret: requests without a
// token are refused, a token from `folio token` works, and `folio backup`
// signs its own admin token with the same secret.
func TestServeWithSecret(t *testing.T) {
	cfg := defaultConfig()
	cfg.Addr, cfg.Data, cfg.Secret = "127.0.0.1:0", t.TempDir(), cliSecret
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- serve(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)), ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	base := "http://" + addr
	env := envMap(map[string]string{"FOLIO_SECRET": cliSecret})
	mint := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"token"}, args...), env, &stdout, &stderr); code != 0 {
			t.Fatalf("token: %s", stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}
	do := func(method, path, body, token string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := do("POST", "/api/v1/docs", `{"id":"d"}`, ""); s != http.StatusForbidden {
		t.Errorf("create without a token: %d", s)
	}
	if s := do("POST", "/api/v1/docs", `{"id":"d","text":"x"}`, mint("--doc", "*", "--role", "admin")); s != http.StatusCreated {
		t.Errorf("create as admin: %d", s)
	}
	if s := do("GET", "/api/v1/docs/d/text", "", mint("--doc", "d", "--role", "view")); s != http.StatusOK {
		t.Errorf("read with a view token: %d", s)
	}
	if s := do("GET", "/d/d", "", ""); s != http.StatusForbidden {
		t.Errorf("editor page without a token: %d", s)
	}
	out := filepath.Join(t.TempDir(), "b.db")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--server", base, out}, envMap(nil), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "403") {
		t.Errorf("backup without the secret: %d %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"backup", "--server", base, out}, env, &stdout, &stderr); code != 0 {
		t.Errorf("backup with the secret: %d %s", code, stderr.String())
	}
}
