package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// env is what a command needs from the process, so tests can run commands
// in-process with their own arguments, environment and output.
type env struct {
	args   []string // After the command name.
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. Each lives in its own file and has one line in
// commands; run's error is printed and turns into exit status 1 (2 for
// usage errors, see errUsage).
type command struct {
	summary string
	run     func(ctx context.Context, e env) error
}

var commands = map[string]command{
	"serve":   {"run the service (the default)", runServe},
	"export":  {"write a document from the data directory: export <id> [--format txt|md|html|json] [--version N]", runExport},
	"check":   {"check the consistency of the data directory's database", runCheck},
	"backup":  {"write a hot, consistent copy of the database: backup [--force] <file>", runBackup},
	"restore": {"make a backup the database (server stopped; the current one is kept aside): restore <file>", runRestore},
	"version": {"print the version", runVersion},
	"token":   {"print a signed access token: token --doc D --role view|edit|admin --name N --ttl 1h", runToken},
}

// errUsage means a usage error was already printed; exit status 2.
var errUsage = errors.New("usage")

// errHelp means --help was asked for and printed; exit status 0.
var errHelp = flag.ErrHelp

// flagError turns a flag.Parse error into errHelp or errUsage (the flag
// package has printed it already).
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return errUsage
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; from then on the default
	// handling is back, so a second one ends the process at once (every
	// acknowledged op is already durable).
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the exit status. No arguments,
// or a first argument that is a flag, means serve.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help":
		usage(stdout)
		return 0
	case "serve":
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			usage(stderr) // The commands first, then serve's flags.
			fmt.Fprintln(stderr)
		}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "folio: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, env{args: args, getenv: getenv, stdout: stdout, stderr: stderr})
	switch {
	case err == nil || err == errHelp:
		return 0
	case err == errUsage:
		return 2
	default:
		fmt.Fprintf(stderr, "folio %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: folio [command] [flags]   (folio <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}
