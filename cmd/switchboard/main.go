// Command switchboard runs AI conversations over SMS and WhatsApp through
// Twilio Messaging.
//
//	switchboard [serve]            run the server (default)
//	switchboard phone              SMS/WhatsApp phone emulator
//	switchboard rotate-secret-key  re-seal provider secrets under a new key
//	switchboard version            print the version
//
// Configuration comes from the environment; `switchboard --help` lists the
// commands and the configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	// Projects' timezones (the time a stage prompt sees) load on a machine
	// without a tz database, such as a distroless or scratch image: the
	// binary carries its own copy (about 450 KB), used when the system has
	// none.
	_ "time/tzdata"

	"switchboard/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// gitCommit is the short commit the binary was built from, as the Go
// toolchain recorded it (vcs.revision, with "-dirty" for uncommitted
// changes), or "" when it was not built from a git checkout. GET /version
// reports it, as Bonsai reports GIT_COMMIT.
func gitCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 on a runtime failure, 2 on a usage or configuration error.
func run(args []string, stdout, stderr io.Writer) int {
	cmd, named := "serve", false
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args, named = args[0], args[1:], true
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			// `switchboard --help` names no command: it gets the overview
			// (every command, then serve's options), like `switchboard help`.
			if !named {
				cmd = ""
			}
			usage(stdout, cmd)
			return 0
		}
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "phone":
		return phone(args, os.Stdin, stdout, stderr)
	case "rotate-secret-key":
		return rotateSecretKey(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchboard", version)
		return 0
	case "help":
		usage(stdout, "")
		return 0
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n", cmd)
		usage(stderr, "")
		return 2
	}
}

func usage(w io.Writer, cmd string) {
	switch cmd {
	case "phone":
		phoneHelp(w)
	case "rotate-secret-key":
		rotateHelp(w)
	case "serve":
		fmt.Fprint(w, `Usage: switchboard serve [--demo]

Runs the HTTP server: the operator API (/api/...), the Twilio webhook
(/api/twilio/messaging/webhook), /healthz and /readyz; /metrics on its own
listener (METRICS_ADDR, loopback by default).

--demo  on an empty database, create (once) a demo operator, project,
        scripted stage with its agent, API key and a Twilio provider pointing
        at the phone emulator (each recorded in the audit log as made by the
        demo operator), and print the webhook URL and login. It also reads
        PHONE_ADDR (default 127.0.0.1:3001), and OPENAI_API_KEY,
        OPENAI_BASE_URL, OPENAI_MODEL (for an OpenAI demo stage instead),
        or ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_MODEL (an
        Anthropic one; OPENAI_API_KEY wins when both are set).

Environment:
`+config.Help())
	default:
		fmt.Fprint(w, "Usage: switchboard [command] [options]\n\nCommands:\n")
		for _, c := range commands {
			fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
		}
		fmt.Fprint(w, `
Run 'switchboard COMMAND --help' for a command's options.

serve options:
  --demo             set up a demo line (see 'switchboard serve --help')

Environment (the configuration of serve):
`+config.Help())
	}
}

// commands is what `switchboard help` and `switchboard --help` list: every
// command run dispatches, in the order a new user needs them.
var commands = []struct{ name, summary string }{
	{"serve", "run the server (the default); --demo sets up a demo line"},
	{"phone", "SMS/WhatsApp phone emulator in the terminal (talks to serve --demo)"},
	{"rotate-secret-key", "re-seal every provider secret under a new key"},
	{"version", "print the version"},
	{"help", "print this help"},
}

func serve(args []string, stdout, stderr io.Writer) int {
	demo := false
	for _, a := range args {
		switch a {
		case "--demo", "-demo":
			demo = true
		default:
			fmt.Fprintf(stderr, "switchboard serve: unexpected argument %q\n", a)
			return 2
		}
	}
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := NewMain(cfg, stdout, stderr)
	m.Demo = demo
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	<-ctx.Done()
	stop()
	if err := m.Close(); err != nil {
		fmt.Fprintln(stderr, "switchboard: shutdown:", err)
		if errors.Is(err, context.DeadlineExceeded) {
			return 1
		}
	}
	return 0
}
