// Command loadgen is Switchboard's load tester: simulated senders drive the
// Twilio webhook with signed deliveries while an embedded simulated Twilio
// receives the replies; it measures latency and throughput and checks the
// delivery invariants. Run `loadgen --help` for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
