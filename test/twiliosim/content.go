package twiliosim

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// contentSIDRE is the form of a Content SID.
var contentSIDRE = regexp.MustCompile(`^HX[0-9a-fA-F]{32}$`)

// WhatsAppWindow is how long after a user's last message a WhatsApp sender
// may send them free-form messages: WhatsApp's customer service window.
const WhatsAppWindow = 24 * time.Hour

// Twilio's error codes for templates and the window, with its wording.
const (
	CodeWindowClosed      = 63016
	CodeContentSIDMissing = 21654
	CodeContentSIDInvalid = 21655
)

// AddContent adds a Content template ("HX…") to the account sid. A send
// with ContentSid renders body, replacing {{1}}, {{2}}, … with the send's
// ContentVariables, as the message's Body; a ContentSid the account does
// not have is refused with 21655, as Twilio does.
func (s *Server) AddContent(accountSID, contentSID, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.contents == nil {
		s.contents = map[string]map[string]string{}
	}
	if s.contents[accountSID] == nil {
		s.contents[accountSID] = map[string]string{}
	}
	s.contents[accountSID][contentSID] = body
}

// SetWhatsAppWindow turns the 24-hour window on or off (Options.WhatsAppWindow).
func (s *Server) SetWhatsAppWindow(on bool) {
	s.mu.Lock()
	s.window = on
	s.mu.Unlock()
}

// RecordInbound records that user (an address such as whatsapp:+1555…)
// messaged number now: the sim's own inbound record, which opens the
// WhatsApp window from number to user. Code that posts inbound webhooks
// itself (tests, the phone emulator) calls it for each message it posts.
func (s *Server) RecordInbound(user, number string) { s.RecordInboundAt(user, number, time.Now()) }

// RecordInboundAt is RecordInbound at a given time, to place a user's last
// message outside the window.
func (s *Server) RecordInboundAt(user, number string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inbound == nil {
		s.inbound = map[[2]string]time.Time{}
	}
	s.inbound[[2]string{user, number}] = at
}

// windowOpenLocked reports whether a free-form message from `from` to the
// WhatsApp user `to` is inside the window: the user messaged that sender
// number within WhatsAppWindow. s.mu is held.
func (s *Server) windowOpenLocked(from, to string) bool {
	at, ok := s.inbound[[2]string{to, from}]
	return ok && time.Since(at) < WhatsAppWindow
}

// renderContent fills a template's {{n}} placeholders from its variables
// (a JSON object); unknown placeholders stay as they are.
func renderContent(body, variables string) string {
	var vars map[string]string
	if variables == "" || json.Unmarshal([]byte(variables), &vars) != nil {
		return body
	}
	for k, v := range vars {
		body = strings.ReplaceAll(body, "{{"+k+"}}", v)
	}
	return body
}
