package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	twclient "github.com/twilio/twilio-go/client"
)

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status, code int
		want         Class
	}{
		{429, 20429, ClassRetryable},
		{429, 0, ClassRetryable},
		{400, 20429, ClassRetryable},
		{500, 20500, ClassRetryable},
		{502, 0, ClassRetryable},
		{503, 0, ClassRetryable},
		{400, 21211, ClassPermanent},
		{400, 21610, ClassPermanent},
		{400, 21617, ClassPermanent},
		{400, 63016, ClassPermanent},
		{400, 21408, ClassPermanent},
		{400, 21614, ClassPermanent},
		{401, 20003, ClassPermanent},
		{404, 20404, ClassPermanent},
		{400, 99999, ClassPermanent}, // any other 4xx
		{403, 0, ClassPermanent},
		{0, 21610, ClassPermanent}, // a known permanent code without status
		{0, 30006, ClassPermanent},
		{0, 0, ClassUnknown},
		{0, 12345, ClassUnknown},
		{302, 0, ClassUnknown},
	}
	for _, tc := range tests {
		if got := ClassifyStatus(tc.status, tc.code); got != tc.want {
			t.Errorf("ClassifyStatus(%d, %d) = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassNone},
		{"send error keeps its class", &SendError{Class: ClassPermanent}, ClassPermanent},
		{"wrapped send error", fmt.Errorf("outbound: %w", &SendError{Class: ClassRetryable}), ClassRetryable},
		{"rest 429", &twclient.TwilioRestError{Status: 429, Code: 20429}, ClassRetryable},
		{"rest 21610", &twclient.TwilioRestError{Status: 400, Code: 21610}, ClassPermanent},
		{"rest 503", &twclient.TwilioRestError{Status: 503, Code: 20500}, ClassRetryable},
		{"rest v1 400", &twclient.RestErrorV1{HttpStatusCode: 400, Code: 21211}, ClassPermanent},
		{"not written", &notWrittenError{err: errors.New("EOF")}, ClassRetryable},
		{"connection refused", refused, ClassRetryable},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, ClassRetryable},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, ClassRetryable},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.example", IsNotFound: true}, ClassRetryable},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ClassUnknown},
		{"cancelled", context.Canceled, ClassUnknown},
		{"deadline", context.DeadlineExceeded, ClassUnknown},
		{"other", errors.New("boom"), ClassUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSendErrorMethods(t *testing.T) {
	e := &SendError{Status: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient", Class: ClassPermanent}
	if !e.Permanent() || e.Temporary() || !e.OptedOut() {
		t.Fatalf("methods of %v disagree with its class and code", e)
	}
	if got := e.Error(); got != "twilio: send failed (permanent): status 400, code 21610: Attempt to send to unsubscribed recipient" {
		t.Fatalf("Error() = %q", got)
	}
	r := &SendError{Class: ClassRetryable, Message: "dial tcp: refused", Err: syscall.ECONNREFUSED}
	if !r.Temporary() || r.Permanent() || r.OptedOut() || !errors.Is(r, syscall.ECONNREFUSED) {
		t.Fatalf("methods of %v wrong", r)
	}
	if !OptedOut(21610) || OptedOut(21211) || !PermanentCode(63016) || PermanentCode(20429) {
		t.Fatal("OptedOut/PermanentCode wrong")
	}
	for c, s := range map[Class]string{ClassNone: "none", ClassRetryable: "retryable", ClassPermanent: "permanent", ClassUnknown: "unknown"} {
		if c.String() != s {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), s)
		}
	}
}
