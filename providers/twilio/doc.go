// Package twilio is Switchboard's boundary with Twilio Messaging: webhook
// signatures (X-Twilio-Signature) and public URL reconstruction, SMS and
// WhatsApp addresses, a REST sender built on github.com/twilio/twilio-go whose
// base URL can be redirected (tests, load tests, the phone emulator), the
// classification of send failures into retryable and permanent ones, and the
// splitting of long replies.
//
// It depends only on the standard library, twilio-go, and the store and
// providers packages of this module.
package twilio
