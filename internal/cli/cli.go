// Package cli is what every command under cmd/ does the same way with its
// command line: -h and --help print its usage, its flags and the settings
// it reads from the environment, and exit 0; an unknown flag, or an
// argument it does not take, exits 2. Either way nothing has started: a
// command checks its command line before it listens, dials or builds.
// e2e's TestHelpAndUnknownFlags holds every command to this.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/approvals-go/approvals/internal/logging"
)

// Parse parses the command line. usage opens -h's text ("Usage: name
// [flags]" and what the command does); the flags defined follow, then what
// each of settings writes, such as config.Usage's list of environment
// variables.
func Parse(usage string, settings ...func(io.Writer) error) {
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintln(out, usage)
		hasFlags := false
		flag.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			flag.PrintDefaults()
		}
		for _, write := range settings {
			fmt.Fprintln(out)
			if err := write(out); err != nil {
				fmt.Fprintln(out, err)
			}
		}
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(flag.CommandLine.Output(), "unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
}

// Fail prints err as the command's and exits with code.
func Fail(command string, code int, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", command, err)
	os.Exit(code)
}

// EnvOr is the environment variable name, or def when it is unset or
// empty.
func EnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Context ends on SIGINT or SIGTERM.
func Context() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Service runs a long-lived service configured from the environment until
// SIGINT or SIGTERM: it loads the settings (exit 2 if they are wrong),
// logs at the level they name, and exits 1 if run fails.
func Service[T any](command string, load func() (T, error), logLevel func(T) string, run func(context.Context, T, *slog.Logger) error) {
	ctx, stop := Context()
	defer stop()
	cfg, err := load()
	if err != nil {
		Fail(command, 2, err)
	}
	log := logging.New(os.Stderr, logLevel(cfg))
	if err := run(ctx, cfg, log); err != nil {
		log.Error(command+" stopped", "err", err)
		stop()
		os.Exit(1)
	}
}
