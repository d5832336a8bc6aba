// Package opapi is a minimal client of Switchboard's operator REST API
// (JSON in, JSON out, bearer token), shared by the load generator, the
// phone command and the end-to-end tests.
package opapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 4 << 20

// Client calls the operator API at Base (scheme://host[:port], no trailing
// slash needed) with Token as the bearer token when set.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client // nil: http.DefaultClient
}

// StatusError is an answer with a status other than the one wanted.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Raw sends body as JSON (none when nil) and returns the answer's status
// and body, whatever the status. An answer over 4 MiB is an error.
func (c *Client) Raw(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(b) > maxAnswer {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: answer larger than %d MiB", method, path, maxAnswer>>20)
	}
	return resp.StatusCode, b, nil
}

// Do sends body as JSON and decodes the answer into out (unless nil); an
// answer with a status other than want is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, want int) error {
	status, b, err := c.Raw(ctx, method, path, body)
	if err != nil {
		return err
	}
	if status != want {
		return &StatusError{Method: method, Path: path, Status: status, Body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}
