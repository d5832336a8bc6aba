package replyfmt

import (
	"strings"
	"testing"
)

// answers are realistic LLM replies with what an SMS (plain) and a WhatsApp
// recipient should receive.
var answers = []struct {
	name, md, plain, wa string
}{
	{
		name:  "plain text passes through",
		md:    "Your appointment is on Tuesday at 3 pm. Reply YES to confirm.",
		plain: "Your appointment is on Tuesday at 3 pm. Reply YES to confirm.",
		wa:    "Your appointment is on Tuesday at 3 pm. Reply YES to confirm.",
	},
	{
		name:  "bold label and italic",
		md:    "**Total:** $1,234.56 (*including tax*)",
		plain: "Total: $1,234.56 (including tax)",
		wa:    "*Total:* $1,234.56 (_including tax_)",
	},
	{
		name:  "underscore emphasis",
		md:    "That is __really__ _important_.",
		plain: "That is really important.",
		wa:    "That is *really* _important_.",
	},
	{
		name:  "bold italic",
		md:    "***Do not*** share your code.",
		plain: "Do not share your code.",
		wa:    "_*Do not*_ share your code.",
	},
	{
		name:  "italic inside bold is not doubled",
		md:    "**Note: _all_ fields are required**",
		plain: "Note: all fields are required",
		wa:    "*Note: _all_ fields are required*",
	},
	{
		name:  "strikethrough",
		md:    "Price: ~~$20~~ $15 today",
		plain: "Price: $20 $15 today",
		wa:    "Price: ~$20~ $15 today",
	},
	{
		name:  "headings",
		md:    "# Store hours\n\nMon–Fri 9–5\n\n## Holidays\nClosed",
		plain: "Store hours\n\nMon–Fri 9–5\n\nHolidays\nClosed",
		wa:    "*Store hours*\n\nMon–Fri 9–5\n\n*Holidays*\nClosed",
	},
	{
		name:  "bold heading is bold once",
		md:    "### **Summary**\nAll good.",
		plain: "Summary\nAll good.",
		wa:    "*Summary*\nAll good.",
	},
	{
		name:  "link with text",
		md:    "See [our pricing page](https://example.com/pricing) for details.",
		plain: "See our pricing page (https://example.com/pricing) for details.",
		wa:    "See our pricing page (https://example.com/pricing) for details.",
	},
	{
		name:  "link whose text is the URL",
		md:    "Book at [https://example.com/book](https://example.com/book).",
		plain: "Book at https://example.com/book.",
		wa:    "Book at https://example.com/book.",
	},
	{
		name:  "link text without scheme",
		md:    "Go to [example.com](https://example.com/)",
		plain: "Go to https://example.com/",
		wa:    "Go to https://example.com/",
	},
	{
		name:  "bare URL with underscores stays whole",
		md:    "Track it at https://example.com/track?id=a_b_c&ref=sms_reply_2 now",
		plain: "Track it at https://example.com/track?id=a_b_c&ref=sms_reply_2 now",
		wa:    "Track it at https://example.com/track?id=a_b_c&ref=sms_reply_2 now",
	},
	{
		name:  "angle autolink and email",
		md:    "Write to <help@example.com> or see <https://example.com>.",
		plain: "Write to help@example.com or see https://example.com.",
		wa:    "Write to help@example.com or see https://example.com.",
	},
	{
		name:  "tel and mailto links",
		md:    "[Call us](tel:+15551234567) or [email us](mailto:help@example.com)",
		plain: "Call us (+15551234567) or email us (help@example.com)",
		wa:    "Call us (+15551234567) or email us (help@example.com)",
	},
	{
		name:  "relative link keeps the text",
		md:    "See [the FAQ](#faq) below.",
		plain: "See the FAQ below.",
		wa:    "See the FAQ below.",
	},
	{
		name:  "repeated reference link shows its URL once",
		md:    "Read [the guide][g], then [the guide][g] again.\n\n[g]: https://example.com/guide",
		plain: "Read the guide (https://example.com/guide), then the guide again.",
		wa:    "Read the guide (https://example.com/guide), then the guide again.",
	},
	{
		name:  "image is its URL",
		md:    "Here is the map: ![map](https://example.com/map.png)",
		plain: "Here is the map: https://example.com/map.png",
		wa:    "Here is the map: https://example.com/map.png",
	},
	{
		name:  "bullet list",
		md:    "You can:\n* reschedule\n* cancel\n+ ask a question",
		plain: "You can:\n- reschedule\n- cancel\n- ask a question",
		wa:    "You can:\n- reschedule\n- cancel\n- ask a question",
	},
	{
		name:  "numbered list with bold items",
		md:    "Here's how:\n\n1. **Open** the app\n2. Tap **Settings**\n3. Choose *Billing*",
		plain: "Here's how:\n\n1. Open the app\n2. Tap Settings\n3. Choose Billing",
		wa:    "Here's how:\n\n1. *Open* the app\n2. Tap *Settings*\n3. Choose _Billing_",
	},
	{
		name:  "ordered list keeps its start",
		md:    "3. third\n4. fourth",
		plain: "3. third\n4. fourth",
		wa:    "3. third\n4. fourth",
	},
	{
		name:  "nested list",
		md:    "- Fruit\n  - apples\n  - pears\n- Vegetables",
		plain: "- Fruit\n  - apples\n  - pears\n- Vegetables",
		wa:    "- Fruit\n  - apples\n  - pears\n- Vegetables",
	},
	{
		name:  "loose list items stay on consecutive lines",
		md:    "- **one**\n\n- two\n\n- three",
		plain: "- one\n- two\n- three",
		wa:    "- *one*\n- two\n- three",
	},
	{
		name:  "task list",
		md:    "- [x] ID\n- [ ] proof of address",
		plain: "- [x] ID\n- [ ] proof of address",
		wa:    "- [x] ID\n- [ ] proof of address",
	},
	{
		name:  "inline code",
		md:    "Reply with `STOP` to opt out.",
		plain: "Reply with STOP to opt out.",
		wa:    "Reply with ```STOP``` to opt out.",
	},
	{
		name:  "code block",
		md:    "Use this code:\n\n```text\nABC-123\nXYZ-789\n```\n\nThanks!",
		plain: "Use this code:\n\nABC-123\nXYZ-789\n\nThanks!",
		wa:    "Use this code:\n\n```ABC-123\nXYZ-789```\n\nThanks!",
	},
	{
		name:  "table as header: value rows",
		md:    "Our plans:\n\n| Plan | Price | Data |\n|------|------:|------|\n| Basic | $5 | 1 GB |\n| Pro | $10 | 10 GB |",
		plain: "Our plans:\n\nPlan: Basic, Price: $5, Data: 1 GB\nPlan: Pro, Price: $10, Data: 10 GB",
		wa:    "Our plans:\n\nPlan: Basic, Price: $5, Data: 1 GB\nPlan: Pro, Price: $10, Data: 10 GB",
	},
	{
		name:  "table with bold cells and an empty cell",
		md:    "| Day | Hours |\n|---|---|\n| **Mon** | 9-5 |\n| Sun | |",
		plain: "Day: Mon, Hours: 9-5\nDay: Sun",
		wa:    "Day: *Mon*, Hours: 9-5\nDay: Sun",
	},
	{
		name:  "table with long headers and short cells",
		md:    "| A very long column heading | Another very long column heading |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |",
		plain: "A very long column heading, Another very long column heading\n1, 2\n3, 4",
		wa:    "A very long column heading, Another very long column heading\n1, 2\n3, 4",
	},
	{
		name:  "table cell with a line break, table with empty rows",
		md:    "| Note |\n|---|\n| one<br>two |\n\n| Header |\n|---|\n| |",
		plain: "Note: one two\n\nHeader",
		wa:    "Note: one two\n\nHeader",
	},
	{
		name:  "windows line ends",
		md:    "**a**\r\nb\r\n\r\n- x\r\n- y",
		plain: "a\nb\n\n- x\n- y",
		wa:    "*a*\nb\n\n- x\n- y",
	},
	{
		name:  "quote",
		md:    "> Your order has shipped.\n\nAnything else?",
		plain: "Your order has shipped.\n\nAnything else?",
		wa:    "> Your order has shipped.\n\nAnything else?",
	},
	{
		name:  "thematic break dropped",
		md:    "Part one\n\n***\n\nPart two",
		plain: "Part one\n\nPart two",
		wa:    "Part one\n\nPart two",
	},
	{
		name:  "escapes and entities",
		md:    "5 \\* 3 = 15 &amp; 2 &lt; 3",
		plain: "5 * 3 = 15 & 2 < 3",
		wa:    "5 * 3 = 15 & 2 < 3",
	},
	{
		name:  "lone asterisk is text",
		md:    "Rated 4.5 * by 1,200 guests",
		plain: "Rated 4.5 * by 1,200 guests",
		wa:    "Rated 4.5 * by 1,200 guests",
	},
	{
		name:  "html line break and tags",
		md:    "Line one<br>Line <b>two</b>",
		plain: "Line one\nLine two",
		wa:    "Line one\nLine two",
	},
	{
		name:  "hard line break",
		md:    "**Name:** Ann  \nRoom: 12",
		plain: "Name: Ann\nRoom: 12",
		wa:    "*Name:* Ann\nRoom: 12",
	},
	{
		name:  "trailing white space trimmed",
		md:    "\n\n**Hi!**\n\n\n",
		plain: "Hi!",
		wa:    "*Hi!*",
	},
	{
		name: "realistic answer",
		md: "Sure! Here's a summary of your booking:\n\n" +
			"**Booking #48213**\n" +
			"- **Date:** Friday, March 6\n" +
			"- **Time:** 7:30 PM\n" +
			"- **Guests:** 4\n\n" +
			"To change it, visit [your booking](https://example.com/b/48213) or call **+1 555 123 4567**.",
		plain: "Sure! Here's a summary of your booking:\n\n" +
			"Booking #48213\n" +
			"- Date: Friday, March 6\n" +
			"- Time: 7:30 PM\n" +
			"- Guests: 4\n\n" +
			"To change it, visit your booking (https://example.com/b/48213) or call +1 555 123 4567.",
		wa: "Sure! Here's a summary of your booking:\n\n" +
			"*Booking #48213*\n" +
			"- *Date:* Friday, March 6\n" +
			"- *Time:* 7:30 PM\n" +
			"- *Guests:* 4\n\n" +
			"To change it, visit your booking (https://example.com/b/48213) or call *+1 555 123 4567*.",
	},
}

func TestPlainAndWhatsApp(t *testing.T) {
	for _, tc := range answers {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plain(tc.md); got != tc.plain {
				t.Errorf("Plain:\n got %q\nwant %q", got, tc.plain)
			}
			if got := WhatsApp(tc.md); got != tc.wa {
				t.Errorf("WhatsApp:\n got %q\nwant %q", got, tc.wa)
			}
		})
	}
}

func TestFormatModes(t *testing.T) {
	const md = "**Hi** there"
	tests := []struct {
		mode     Mode
		whatsApp bool
		want     string
	}{
		{ModeAuto, false, "Hi there"},
		{ModeAuto, true, "*Hi* there"},
		{"", true, "*Hi* there"},
		{ModePlain, true, "Hi there"},
		{ModeWhatsApp, false, "*Hi* there"},
		{ModeNone, true, md},
		{ModeNone, false, md},
	}
	for _, tc := range tests {
		if got := Format(tc.mode, tc.whatsApp, md); got != tc.want {
			t.Errorf("Format(%q, %v) = %q, want %q", tc.mode, tc.whatsApp, got, tc.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"", "auto", "plain", "whatsapp", "none"} {
		m, err := ParseMode(s)
		if err != nil {
			t.Fatalf("ParseMode(%q): %v", s, err)
		}
		if s == "" && m != ModeAuto || s != "" && string(m) != s {
			t.Fatalf("ParseMode(%q) = %q", s, m)
		}
	}
	for _, s := range []string{"Plain", "markdown", " auto", "sms"} {
		if _, err := ParseMode(s); err == nil || !strings.Contains(err.Error(), `"plain"`) {
			t.Fatalf("ParseMode(%q) error = %v, want one naming the modes", s, err)
		}
	}
}

// TestPlainAddsOnlyGSM7 checks that formatting never adds a character
// outside the GSM-7 alphabet: one would make the carrier send the whole
// message as UCS-2, 70 characters a segment instead of 160.
func TestPlainAddsOnlyGSM7(t *testing.T) {
	for _, tc := range answers {
		in := map[rune]bool{}
		for _, r := range tc.md {
			in[r] = true
		}
		for _, r := range Plain(tc.md) + WhatsApp(tc.md) {
			if !in[r] && !strings.ContainsRune("-.:, ()\n*_~`>[]x0123456789<", r) {
				t.Errorf("%s: output adds %q", tc.name, r)
			}
		}
	}
}

func TestFallbackWhenOutputWouldGrow(t *testing.T) {
	// One long reference URL used many times: each use shows only its
	// text after the first, so the output stays short.
	md := strings.Repeat("[a][r] ", 200) + "\n\n[r]: https://example.com/" + strings.Repeat("x", 500)
	if got := Plain(md); len(got) > Bound(len(md)) {
		t.Fatalf("len(Plain) = %d, over the bound %d", len(got), Bound(len(md)))
	}
}
