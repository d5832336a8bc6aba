package test

import (
	"strings"
	"testing"
	"time"

	"switchboard/test/twiliosim"
)

// TestMarkdownReplyArrivesAsPlainSMS: through the real binary, an LLM's
// Markdown answer reaches an SMS recipient as plain text, and the long
// reply's natural cut, which falls inside a phone number, moves before it.
func TestMarkdownReplyArrivesAsPlainSMS(t *testing.T) {
	words := strings.Repeat("word ", 315)
	md := "**Your order**\n\n" + words + "call **+1 555 123 4567** or see [our page](https://example.com/orders/48213) thanks"
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{llmConfig: map[string]any{"defaultReply": md}})
	l.mustText(t, "+15552100001", "where is my order?")
	got := l.waitReplies(t, "+15552100001", 2, 15*time.Second)
	want := []string{
		"Your order\n\n" + words + "call",
		"+1 555 123 4567 or see our page (https://example.com/orders/48213) thanks",
	}
	want[0] = strings.TrimSpace(want[0])
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parts:\n %q\nwant\n %q", got, want)
	}
}
