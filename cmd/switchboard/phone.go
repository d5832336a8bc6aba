package main

import (
	"fmt"
	"io"
)

// phone runs the SMS emulator (placeholder until it lands).
func phone(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "switchboard phone: not implemented yet")
	return 1
}
