package twilio

import (
	"context"
	"net/url"
	"strings"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	msgv1 "github.com/twilio/twilio-go/rest/messaging/v1"

	"switchboard/providers"
)

// InboundWebhookPath is the path of Switchboard's inbound message webhook;
// a URL Twilio posts inbound messages to that ends with it belongs to a
// Switchboard, whose status callback sits beside it.
const InboundWebhookPath = "/api/twilio/messaging/webhook"

// WebhookBase asks Twilio where it posts inbound messages for number (the
// provider's Messaging Service's inbound_request_url, unless the service
// defers to its numbers; else the incoming phone number's sms_url, a
// "whatsapp:" prefix ignored) and
// returns the public base URL of the Switchboard that URL reaches
// (CallbackBaseOf), or "" when the number is not the account's or its
// webhook is not a Switchboard's. It lets a restarted process give a
// resent reply a StatusCallback when PUBLIC_BASE_URL is unset: the base is
// otherwise only learnt from the request an inbound webhook arrives on.
// Failures are *SendError, classified as FindSent's are.
func (s *Sender) WebhookBase(ctx context.Context, cfg providers.TwilioConfig, number string) (string, error) {
	if number == "" {
		number = cfg.FromNumber
	}
	if cfg.MessagingServiceSID != "" {
		// The service's inbound webhook, unless it defers to its numbers'.
		base, useNumber, err := s.serviceWebhookBase(ctx, cfg)
		if err != nil || !useNumber {
			return base, err
		}
	}
	if number == "" {
		return "", nil
	}
	if a, err := ParseAddress(number); err == nil {
		number = a.Number
	}
	params := &openapi.ListIncomingPhoneNumberParams{}
	params.SetPathAccountSid(cfg.AccountSID)
	params.SetPhoneNumber(number)
	params.SetPageSize(20)
	api, bt, cancel, serr := s.begin(ctx, cfg)
	if serr != nil {
		return "", serr
	}
	defer cancel()
	resp, err := api.PageIncomingPhoneNumber(params, "", "")
	if err != nil {
		se := sendError(err, bt)
		if se.Class == ClassUnknown && bt.status == 0 {
			se.Class = ClassRetryable // a read has no side effect
		}
		return "", se
	}
	for _, n := range resp.IncomingPhoneNumbers {
		// PhoneNumber filters by pattern; only the exact number counts.
		if n.PhoneNumber == nil || *n.PhoneNumber != number || n.SmsUrl == nil {
			continue
		}
		if base := CallbackBaseOf(*n.SmsUrl); base != "" {
			return base, nil
		}
	}
	return "", nil
}

// serviceWebhookBase reads the provider's Messaging Service: the base of
// its inbound_request_url, or useNumber when the service leaves inbound
// messages to each number's own webhook.
func (s *Sender) serviceWebhookBase(ctx context.Context, cfg providers.TwilioConfig) (base string, useNumber bool, err error) {
	h, bt, cancel, serr := s.beginHandler(ctx, cfg)
	if serr != nil {
		return "", false, serr
	}
	defer cancel()
	svc, ferr := msgv1.NewApiService(h).FetchService(cfg.MessagingServiceSID)
	if ferr != nil {
		se := sendError(ferr, bt)
		if se.Class == ClassUnknown && bt.status == 0 {
			se.Class = ClassRetryable // a read has no side effect
		}
		return "", false, se
	}
	if svc.UseInboundWebhookOnNumber != nil && *svc.UseInboundWebhookOnNumber {
		return "", true, nil
	}
	if svc.InboundRequestUrl == nil {
		return "", false, nil
	}
	return CallbackBaseOf(*svc.InboundRequestUrl), false, nil
}

// CallbackBaseOf returns the base of a Switchboard inbound webhook URL
// (scheme://host[/prefix] before InboundWebhookPath), or "" when rawURL is
// not an absolute http(s) URL ending with that path.
func CallbackBaseOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	prefix, ok := strings.CutSuffix(u.EscapedPath(), InboundWebhookPath)
	if !ok {
		return ""
	}
	return u.Scheme + "://" + u.Host + prefix
}
