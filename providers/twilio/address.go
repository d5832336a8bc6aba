package twilio

import (
	"strings"

	"switchboard/store"
)

// Channels of an Address.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
)

// whatsappPrefix marks a WhatsApp address in Twilio's From/To fields.
const whatsappPrefix = "whatsapp:"

// Address is a Twilio Messaging endpoint: an E.164 number reached by SMS, or
// the same number on WhatsApp (written "whatsapp:+15551234567" by Twilio).
type Address struct {
	Channel string // ChannelSMS or ChannelWhatsApp
	Number  string // E.164: "+" and 2 to 15 digits, the first not 0
}

// ParseAddress parses an E.164 number ("+15551234567") or a WhatsApp address
// ("whatsapp:+15551234567"; the prefix is matched case-insensitively). The
// error is a store.EINVALID error safe to show to a client.
func ParseAddress(s string) (Address, error) {
	a := Address{Channel: ChannelSMS, Number: s}
	if hasPrefixFold(s, whatsappPrefix) {
		a = Address{Channel: ChannelWhatsApp, Number: s[len(whatsappPrefix):]}
	}
	if !isE164(a.Number) {
		return Address{}, store.Errorf(store.EINVALID, "twilio: %q is not an E.164 number (+ and up to 15 digits) or whatsapp:+E.164 address", s)
	}
	return a, nil
}

// String returns the address as Twilio writes it in From and To.
func (a Address) String() string {
	if a.Channel == ChannelWhatsApp {
		return whatsappPrefix + a.Number
	}
	return a.Number
}

// IsWhatsApp reports whether the address is on the WhatsApp channel.
func (a Address) IsWhatsApp() bool { return a.Channel == ChannelWhatsApp }

// isE164 reports whether s matches +[1-9]\d{1,14}.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MaskNumber masks a phone number or address for logs: the country code
// area ("+1555"), an ellipsis and the last four digits ("+1555…4567"). A
// "whatsapp:" prefix is kept. A number shorter than a North American one
// ("+" and 11 digits), which would leave fewer than three digits hidden, and
// anything that is not a plain number, is masked completely ("…").
func MaskNumber(s string) string {
	prefix, n := "", s
	if hasPrefixFold(s, whatsappPrefix) {
		prefix, n = s[:len(whatsappPrefix)], s[len(whatsappPrefix):]
	}
	if len(n) < 12 || !isMaskable(n) {
		return prefix + "…"
	}
	return prefix + n[:5] + "…" + n[len(n)-4:]
}

// isMaskable reports whether n is digits with an optional leading "+", so
// that its head and tail are safe to print.
func isMaskable(n string) bool {
	n = strings.TrimPrefix(n, "+")
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return n != ""
}
