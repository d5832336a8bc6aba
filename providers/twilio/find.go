package twilio

import (
	"context"
	"net/url"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"switchboard/providers"
)

// Bounds of FindSent.
const (
	// FindClockSkew widens FindSent's time window backwards: Twilio's clock
	// and ours disagree a little, and Twilio's date filters have a
	// granularity of one second.
	FindClockSkew = 2 * time.Second
	// FindPageSize is how many messages FindSent asks for per page.
	FindPageSize = 100
	// FindMaxPages bounds how many pages FindSent reads before it gives up
	// and reports "not found".
	FindMaxPages = 5
)

// FindSent looks for a message Twilio accepted from msg.From (empty: the
// provider's fromNumber; with neither, from any sender of its Messaging
// Service) to msg.To with exactly msg.Body, created at or after
// since minus FindClockSkew. Crash recovery uses it to reconcile outbox rows
// still marked pending: Twilio's Messages API has no idempotency key, so
// asking is the only way to learn whether a send whose answer was lost went
// through. Any status counts as sent, because Twilio did accept it.
//
// It lists messages newest first, FindPageSize per page, and reads at most
// FindMaxPages pages; a match beyond that is reported as not found. Each page
// is one REST call bounded like Send's; ctx bounds them all. Failures are
// *SendError, classified as Send's are.
func (s *Sender) FindSent(ctx context.Context, cfg providers.TwilioConfig, msg Message, since time.Time) (Result, bool, error) {
	from, serr := addresses(cfg, msg)
	if serr != nil {
		return Result{}, false, serr
	}
	if msg.Body == "" {
		return Result{}, false, &SendError{Code: CodeBodyRequired, Class: ClassPermanent, Message: "a body is required to find a sent message"}
	}
	after := since.Add(-FindClockSkew).UTC().Truncate(time.Second)

	params := &openapi.ListMessageParams{}
	params.SetPathAccountSid(cfg.AccountSID)
	params.SetTo(msg.To)
	if from != "" {
		params.SetFrom(from) // else a Messaging Service picked it: any sender
	}
	// No DateSent filter: Twilio filters on date_sent, which is still null
	// for a message that was only queued when we crashed — exactly the ones
	// we look for. Results come newest first, so date_created is checked
	// on each message instead.
	params.SetPageSize(FindPageSize)

	var token, page string
	for range FindMaxPages {
		resp, err := s.listPage(ctx, cfg, params, token, page)
		if err != nil {
			return Result{}, false, err
		}
		for _, m := range resp.Messages {
			if res, ok := matchSent(m, msg.Body, after); ok {
				return res, true, nil
			}
		}
		if resp.NextPageUri == nil || *resp.NextPageUri == "" {
			return Result{}, false, nil
		}
		next, err := url.Parse(*resp.NextPageUri)
		if err != nil {
			return Result{}, false, &SendError{Class: ClassUnknown, Message: "unreadable next_page_uri: " + err.Error(), Err: err}
		}
		q := next.Query()
		token, page = q.Get("PageToken"), q.Get("Page")
		if token == "" && page == "" {
			return Result{}, false, nil
		}
	}
	return Result{}, false, nil
}

// listPage reads one page of messages.
func (s *Sender) listPage(ctx context.Context, cfg providers.TwilioConfig, params *openapi.ListMessageParams, token, page string) (*openapi.ListMessageResponse, error) {
	api, bt, cancel, serr := s.begin(ctx, cfg)
	if serr != nil {
		return nil, serr
	}
	defer cancel()
	resp, err := api.PageMessage(params, token, page)
	if err != nil {
		se := sendError(err, bt)
		if se.Class == ClassUnknown && bt.status == 0 {
			// A read has no side effect: failing to get an answer is as
			// retryable as never asking.
			se.Class = ClassRetryable
		}
		return nil, se
	}
	return resp, nil
}

// matchSent reports whether m carries exactly body and was created at or
// after after, and returns it as a Result.
func matchSent(m openapi.ApiV2010Message, body string, after time.Time) (Result, bool) {
	if m.Body == nil || *m.Body != body || m.Sid == nil || *m.Sid == "" {
		return Result{}, false
	}
	if m.DateCreated != nil {
		// An unreadable date leaves the decision to Twilio's own filter.
		if created, err := time.Parse(time.RFC1123Z, *m.DateCreated); err == nil && created.Before(after) {
			return Result{}, false
		}
	}
	return resultOf(&m), true
}
