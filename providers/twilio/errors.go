package twilio

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	twclient "github.com/twilio/twilio-go/client"
)

// Class says what a caller may do about a failed send.
type Class int

// The classes of send outcomes.
const (
	// ClassNone is the class of a nil error.
	ClassNone Class = iota
	// ClassRetryable failures are safe to retry with backoff: Twilio asked us
	// to slow down (HTTP 429, code 20429), failed on its side (5xx), or the
	// request never left this process (connection refused or reset, or a
	// timeout, while dialing or before the request was written).
	ClassRetryable
	// ClassPermanent failures will fail again the same way: invalid or
	// unreachable recipient, opted-out recipient, body too long, closed
	// WhatsApp window, bad credentials, and every other 4xx.
	ClassPermanent
	// ClassUnknown failures happened after the request was written and
	// before an answer was read (a response timeout, a cancelled context, a
	// reset mid-response, an unreadable answer). Twilio may have accepted
	// the message; retrying risks sending it twice.
	ClassUnknown
)

// String returns the class name used in logs and metric labels.
func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	default:
		return "unknown"
	}
}

// Twilio error codes Switchboard acts on.
const (
	CodeTooManyRequests    = 20429 // rate limited
	CodeInvalidTo          = 21211 // invalid 'To' phone number
	CodeOptedOut           = 21610 // recipient replied STOP
	CodeBodyTooLong        = 21617 // concatenated body over 1600 characters
	CodeWhatsAppWindow     = 63016 // outside the WhatsApp 24-hour session window
	CodeBodyRequired       = 21602 // message body required
	CodeAuthenticate       = 20003 // authentication failed
	CodeQueueOverflow      = 30001 // Twilio's queue for the sender overflowed
	CodeUnreachable        = 30003 // unreachable destination handset
	CodeBlocked            = 30004 // message blocked
	CodeUnknownDestination = 30005 // unknown destination handset
	CodeLandline           = 30006 // landline or unreachable carrier
	CodeFiltered           = 30007 // carrier violation (filtered)
	CodeUnknownError       = 30008 // unknown error
	CodeContentSIDRequired = 21654 // ContentVariables without a ContentSid
	CodeContentSIDInvalid  = 21655 // no such Content template in the account
)

// permanentCodes are Twilio error codes that mean "this message to this
// recipient will not go through", whatever the HTTP status said.
var permanentCodes = map[int]bool{
	21211: true, // invalid 'To'
	21212: true, // invalid 'From'
	21214: true, // 'To' cannot be reached
	21408: true, // region not enabled
	21601: true, // 'To' is not a mobile number
	21602: true, // body required
	21603: true, // 'From' required
	21604: true, // 'To' required
	21606: true, // 'From' not SMS capable
	21608: true, // unverified number on a trial account
	21610: true, // opted out
	21612: true, // 'To' not reachable from 'From'
	21614: true, // 'To' is not a valid mobile number
	21617: true, // body too long
	21621: true, // 'From' not enabled for MMS
	21654: true, // ContentSid required
	21655: true, // ContentSid invalid
	30003: true, 30004: true, 30005: true, 30006: true, 30007: true, 30008: true,
	63003: true, // WhatsApp channel could not find destination
	63007: true, // WhatsApp sender not found
	63016: true, // outside the WhatsApp session window
	20003: true, // authentication
	20404: true, // resource not found (wrong account or URL)
}

// PermanentCode reports whether a Twilio error code (from a REST answer or a
// status callback's ErrorCode) marks the message as failed for good.
func PermanentCode(code int) bool { return permanentCodes[code] }

// OptedOut reports whether a Twilio error code means the recipient has opted
// out (21610) and must not be messaged until they opt in again.
func OptedOut(code int) bool { return code == CodeOptedOut }

// SendError is the error Sender.Send returns: what Twilio answered (HTTP
// status and Twilio error code, zero when there was no answer) and the
// class of the failure.
type SendError struct {
	Status  int    // HTTP status, 0 when no response was read
	Code    int    // Twilio error code, 0 when none
	Message string // Twilio's message, or a description of the failure
	Class   Class
	Err     error // the underlying error, if any
	// RetryAfter is how long Twilio asked the client to wait before trying
	// again (the Retry-After header of a 429 or 503 answer, in seconds or as
	// an HTTP date), 0 when it did not say.
	RetryAfter time.Duration
}

// Error implements error.
func (e *SendError) Error() string {
	switch {
	case e.Code != 0:
		return fmt.Sprintf("twilio: send failed (%s): status %d, code %d: %s", e.Class, e.Status, e.Code, e.Message)
	case e.Status != 0:
		return fmt.Sprintf("twilio: send failed (%s): status %d: %s", e.Class, e.Status, e.Message)
	default:
		return fmt.Sprintf("twilio: send failed (%s): %s", e.Class, e.Message)
	}
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// WindowClosedReason is what a failed send with code 63016 records: a
// free-form WhatsApp message to someone who has not written to the sender
// in 24 hours is refused, and only a Content template opens the
// conversation again.
const WindowClosedReason = "WhatsApp's 24-hour window is closed (the recipient has not written in 24 hours): " +
	"a free-form message is refused; send a Content template (stage metadata.whatsappTemplate) to reopen the conversation"

// Reason is the failure as recorded on the outbox row and its delivery
// event: Twilio's message, explained for the codes an operator must act
// on.
func (e *SendError) Reason() string { return Reason(e.Code, e.Message) }

// Reason explains a Twilio error code with its message (from a REST
// answer or a status callback).
func Reason(code int, message string) string {
	if code == CodeWhatsAppWindow {
		if message == "" {
			return WindowClosedReason
		}
		return WindowClosedReason + " (Twilio: " + message + ")"
	}
	return message
}

// Temporary reports whether the send may be retried safely.
func (e *SendError) Temporary() bool { return e.Class == ClassRetryable }

// Permanent reports whether the send will never succeed as it is.
func (e *SendError) Permanent() bool { return e.Class == ClassPermanent }

// OptedOut reports whether the recipient has opted out (code 21610).
func (e *SendError) OptedOut() bool { return OptedOut(e.Code) }

// Classify returns the class of a send error: a *SendError's own class, or
// the class derived from a twilio-go error (client.TwilioRestError,
// client.RestErrorV1) or a network error.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Class
	}
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		return ClassifyStatus(rest.Status, rest.Code)
	}
	var v1 *twclient.RestErrorV1
	if errors.As(err, &v1) {
		return ClassifyStatus(v1.HttpStatusCode, v1.Code)
	}
	return classifyTransport(err)
}

// ClassifyStatus classifies a Twilio answer by HTTP status and error code.
func ClassifyStatus(status, code int) Class {
	switch {
	case status == 429 || code == CodeTooManyRequests:
		return ClassRetryable
	case status >= 500:
		return ClassRetryable
	case PermanentCode(code):
		return ClassPermanent
	case status >= 400:
		return ClassPermanent
	default:
		// No status (a body without "status"), or a success status with an
		// error: the outcome is not known.
		return ClassUnknown
	}
}

// notWrittenError marks a transport failure that happened before any byte
// of the request reached the network, which makes a retry safe.
type notWrittenError struct{ err error }

// Error implements error.
func (e *notWrittenError) Error() string {
	return "twilio: request not sent: " + e.err.Error()
}

// Unwrap returns the transport's error.
func (e *notWrittenError) Unwrap() error { return e.err }

// classifyTransport classifies an error that carries no Twilio answer.
func classifyTransport(err error) Class {
	var nw *notWrittenError
	if errors.As(err, &nw) {
		return ClassRetryable
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ClassRetryable // nothing can have been written
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ClassRetryable
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return ClassRetryable
	}
	// Everything else, including a cancelled context or a timeout after the
	// request was written, leaves the outcome unknown.
	return ClassUnknown
}
