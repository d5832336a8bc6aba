package twiliosim

import (
	"net/http"
	"time"

	"switchboard/providers/twilio"
)

// service is a Messaging Service of an account.
type service struct {
	account    string
	senders    []string // E.164 or whatsapp:+E.164, in pool order
	inboundURL string   // inbound_request_url
	useNumber  bool     // use_inbound_webhook_on_number
}

// AddMessagingService registers Messaging Service mgSID of account sid
// with its sender pool and inbound webhook (inboundURL; "" with useNumber
// leaves inbound messages to each number's own sms_url). A send that names
// the service without a From is sent from the first sender of the pool on
// the recipient's channel, as a sender pool does for a new recipient; with
// a From, from that number.
func (s *Server) AddMessagingService(sid, mgSID string, senders []string, inboundURL string, useNumber bool) {
	s.mu.Lock()
	if s.services == nil {
		s.services = map[string]service{}
	}
	s.services[mgSID] = service{account: sid, senders: append([]string(nil), senders...), inboundURL: inboundURL, useNumber: useNumber}
	s.mu.Unlock()
}

// serviceSender picks the sender of a message to `to` that names Messaging
// Service mgSID of account sid: its From when given, else the first sender
// of the pool on to's channel. code is Twilio's error for a service that
// is not the account's (21705) or has no fitting sender (21704).
func (s *Server) serviceSender(sid, mgSID, from string, to twilio.Address) (sender string, code int) {
	s.mu.Lock()
	svc, ok := s.services[mgSID]
	s.mu.Unlock()
	if !ok || svc.account != sid {
		return "", 21705
	}
	if from != "" {
		return from, 0
	}
	for _, n := range svc.senders {
		if a, err := twilio.ParseAddress(n); err == nil && a.Channel == to.Channel {
			return n, 0
		}
	}
	return "", 21704
}

// serviceResource is the Messaging v1 Service JSON, the fields a client
// reads.
type serviceResource struct {
	SID                       string  `json:"sid"`
	AccountSID                string  `json:"account_sid"`
	FriendlyName              string  `json:"friendly_name"`
	InboundRequestURL         *string `json:"inbound_request_url"`
	InboundMethod             string  `json:"inbound_method"`
	UseInboundWebhookOnNumber bool    `json:"use_inbound_webhook_on_number"`
	StickySender              bool    `json:"sticky_sender"`
	DateCreated               string  `json:"date_created"`
	URL                       string  `json:"url"`
}

// fetchService handles GET /v1/Services/{Sid} (messaging.twilio.com),
// authenticated for the service's account.
func (s *Server) fetchService(w http.ResponseWriter, r *http.Request, mgSID string) {
	s.mu.Lock()
	svc, ok := s.services[mgSID]
	s.mu.Unlock()
	account := svc.account
	if !ok {
		account = "" // authenticate refuses, as for any unknown resource
	}
	if _, authed := s.authenticate(w, r, account); !authed {
		return
	}
	res := serviceResource{
		SID: mgSID, AccountSID: svc.account, FriendlyName: mgSID, InboundMethod: http.MethodPost,
		UseInboundWebhookOnNumber: svc.useNumber, StickySender: true,
		DateCreated: time.Now().UTC().Format(time.RFC3339), URL: "https://messaging.twilio.com/v1/Services/" + mgSID,
	}
	if svc.inboundURL != "" {
		u := svc.inboundURL
		res.InboundRequestURL = &u
	}
	s.writeJSON(w, http.StatusOK, res)
}
