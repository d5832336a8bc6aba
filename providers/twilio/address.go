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
	Number  string // E.164: "+" and 2 to 15 digits, the first not 0; or a recipient's short code (ParseInbound)
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

// Errors of ParseInbound: each names the field and the forms accepted, and
// never echoes the value (it is attacker-chosen).
var (
	errInboundFrom    = store.Errorf(store.EINVALID, "From must be an E.164 number (+15551234567) or a WhatsApp address (whatsapp:+15551234567)")
	errInboundTo      = store.Errorf(store.EINVALID, "To must be an E.164 number (+15551234567), a short code (3 to 8 digits) or a WhatsApp address (whatsapp:+15551234567)")
	errInboundChannel = store.Errorf(store.EINVALID, "From and To must both be WhatsApp addresses or both not")
)

// ParseInbound checks and normalises the From and To of an inbound
// message, the addresses the webhook stores, keys the conversation on and
// replies to.
//
// Accepted are the forms Twilio posts for the channels Switchboard answers
// on: SMS/MMS, where From is the sender's E.164 number and To the E.164
// number or the short code that was texted, and WhatsApp, where both are
// "whatsapp:" + E.164 (the prefix is matched in any case and returned in
// lower case, so "WhatsApp:+1…" is the same WhatsApp user). From is never a
// short code or an alphanumeric sender ID: those are automated senders
// that cannot take a reply, and a bot answering them only risks a loop.
// Other Twilio channels ("messenger:", "rcs:", …) are refused: replies go
// out through the SMS/WhatsApp sender alone. An empty To is allowed (the
// caller substitutes the provider's number) and returned empty.
//
// The errors are store.EINVALID, safe to show a client.
func ParseInbound(from, to string) (fromAddr, toAddr Address, err error) {
	fromAddr, err = ParseAddress(from)
	if err != nil {
		return Address{}, Address{}, errInboundFrom
	}
	if to == "" {
		return fromAddr, Address{}, nil
	}
	if isShortCode(to) {
		toAddr = Address{Channel: ChannelSMS, Number: to}
	} else if toAddr, err = ParseAddress(to); err != nil {
		return Address{}, Address{}, errInboundTo
	}
	if fromAddr.Channel != toAddr.Channel {
		return Address{}, Address{}, errInboundChannel
	}
	return fromAddr, toAddr, nil
}

// isShortCode reports whether s is a short code: 3 to 8 digits, the
// lengths carriers assign (5 and 6 in North America, 3 to 8 elsewhere).
func isShortCode(s string) bool {
	if len(s) < 3 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
