package cmegateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/cmexhub/cmex"
)

// Client calls remote societies' customer_binding and ceu_order services.
type Client struct {
	HTTP *http.Client
}

// NewClient returns a client that does not follow redirects (a society's
// service answers where it is registered, and a POST must not turn into a
// GET elsewhere) and keeps connections to societies open between calls.
func NewClient() *Client {
	return &Client{HTTP: &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// callError describes why a society's answer could not be used, in words
// safe to show the physician: never the request, which may carry a password.
type callError struct{ msg string }

func (e *callError) Error() string { return e.msg }

// post sends form to u and returns the answer's body, or a callError.
func (c *Client) post(ctx context.Context, u string, form url.Values) (status int, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, &callError{"its service URL is not usable"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/xml, text/xml")
	req.Header.Set("User-Agent", "cmex-gateway")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, describeTransport(ctx, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return resp.StatusCode, nil, describeTransport(ctx, err)
	}
	if len(body) > MaxResponseBytes {
		return resp.StatusCode, nil, &callError{fmt.Sprintf("its answer is larger than %d MiB", MaxResponseBytes>>20)}
	}
	return resp.StatusCode, body, nil
}

func describeTransport(ctx context.Context, err error) error {
	if ae, ok := errors.AsType[*cmex.AddressError](err); ok {
		// The guarded dialer of cmd/cmex refused where its URL leads.
		return &callError{"it was not called: " + ae.Error()}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return &callError{"it did not answer in time"}
	}
	if ctx.Err() != nil {
		return &callError{"the request was cancelled"}
	}
	return &callError{"it could not be reached"}
}

// describeDecode explains an answer that is not the document expected.
func describeDecode(status int, body []byte, err error) error {
	switch {
	case len(strings.TrimSpace(string(body))) == 0:
		return &callError{fmt.Sprintf("it answered HTTP %d with an empty body", status)}
	case status != http.StatusOK:
		return &callError{fmt.Sprintf("it answered HTTP %d", status)}
	case looksLikeHTML(body):
		return &callError{"it answered with an HTML page, not XML"}
	}
	return &callError{"its answer could not be read: " + err.Error()}
}

// Bind checks a login with a remote society and returns its answer. The
// password goes under both spellings of its field: the seed's parameter
// table misspells it (cusomter_password_crypt) and its example does not, so
// a society may read either. It is always sent in a POST body, never in the
// URL, where proxies' logs would keep it.
func (c *Client) Bind(ctx context.Context, s *cmex.Society, username, password string) (*BindingResponse, error) {
	status, body, err := c.post(ctx, s.BindingURL, url.Values{
		"customer_username_crypt":       {username},
		"customer_password_crypt":       {password},
		"cusomter_password_crypt":       {password},
		"customer_binding_crypt_method": {"plaintext"},
	})
	if err != nil {
		return nil, err
	}
	b, err := ReadBinding(body)
	if err != nil {
		return nil, describeDecode(status, body, err)
	}
	return b, nil
}

// Order fetches a member's ceu_order from a remote society.
func (c *Client) Order(ctx context.Context, s *cmex.Society, memberID string) (*OrderResponse, error) {
	status, body, err := c.post(ctx, s.OrderURL, url.Values{"customer_id": {memberID}})
	if err != nil {
		return nil, err
	}
	o, err := ReadOrder(body)
	if err != nil {
		return nil, describeDecode(status, body, err)
	}
	return o, nil
}

// societyMessage makes a society's own message safe to show: one line of
// printable text, at most 300 characters.
func societyMessage(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

func looksLikeHTML(body []byte) bool {
	head := strings.ToLower(strings.TrimSpace(string(body[:min(len(body), 512)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}
