package prompt

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"switchboard/internal/testutil"
)

// Refused prompts leave no goroutine behind (raymond's lexer blocks for
// good when its parser stops early; Parse drains the tokens first).
func TestRefusedPromptsLeaveNoGoroutine(t *testing.T) {
	bad := []string{
		"{{#if x}}{{/each}} more {{y}} text {{z}}",
		"{{/if}} and {{x}}",
		"{{#each a}}{{#if b}}{{/each}}{{/if}} {{x}}",
		"{{x y}} {{z",
		"a {{#if x}}b",
	}
	for _, src := range bad {
		if _, err := Parse(src); err == nil {
			t.Fatalf("%q parsed", src)
		}
	}
	before := runtime.NumGoroutine()
	for range 50 {
		for _, src := range bad {
			_, _ = Parse(src)
		}
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before+5 {
			return fmt.Errorf("%d goroutines, %d before", n, before)
		}
		return nil
	})
}
