package replyfmt

import "testing"

// typical is a 600-character answer as LLMs write them: a bold lead, a
// list, a link.
const typical = "Sure! Here's what I found for your booking:\n\n" +
	"**Booking #48213** is confirmed for *Friday, March 6* at 7:30 PM for 4 guests.\n\n" +
	"What you can do next:\n" +
	"1. **Change the time** - reply with the new time and I'll check availability.\n" +
	"2. **Add a guest** - there is room for up to 6 at your table.\n" +
	"3. **Cancel** - free of charge until 24 hours before.\n\n" +
	"You can also manage it online at [your booking page](https://example.com/bookings/48213) " +
	"or call us at +1 555 123 4567 between 9 AM and 6 PM.\n\n" +
	"Parking is available on site for $12. Is there anything else I can help you with today? " +
	"I'm happy to help with directions too."

func BenchmarkPlain(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	for b.Loop() {
		Plain(typical)
	}
}

func BenchmarkWhatsApp(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	for b.Loop() {
		WhatsApp(typical)
	}
}

// BenchmarkPlainText is an answer without Markdown: the shortcut.
func BenchmarkPlainText(b *testing.B) {
	const s = "Your appointment is on Tuesday at 3 pm with Dr. Lee. Reply YES to confirm or NO to pick another time."
	b.ReportAllocs()
	for b.Loop() {
		Plain(s)
	}
}
