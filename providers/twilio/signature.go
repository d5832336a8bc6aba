package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// Signature returns the X-Twilio-Signature Twilio computes for a form POST to
// rawURL carrying params: the base64 of HMAC-SHA1, keyed with the account's
// auth token, over rawURL followed by every parameter name and value,
// concatenated without separators, in byte order of the names. The values of
// a repeated name are appended in byte order too, each preceded by the name,
// as Twilio's reference libraries do.
//
// rawURL is used byte for byte: it must be the exact URL the request is (or
// was) posted to, query string included.
func Signature(authToken, rawURL string, params url.Values) string {
	var stack [2048]byte
	var sum [sha1.Size]byte
	hmacSHA1(&sum, stack[:0], authToken, rawURL, "", "", params)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ValidSignature reports whether signature is the X-Twilio-Signature of a
// form POST to rawURL with params, for authToken. Besides rawURL as given it
// accepts the signature computed with the scheme's default port added (when
// rawURL has none) or removed (when rawURL carries it), because Twilio's
// signing is inconsistent about it (https :443, http :80). The comparison is
// constant-time (hmac.Equal).
//
// The hot path does not allocate for ordinary requests (up to 32 parameters
// and about 2 KB of URL and parameters): the HMAC input is assembled in a
// stack buffer and the expected signature is compared in its decoded binary
// form.
func ValidSignature(authToken, rawURL string, params url.Values, signature string) bool {
	if len(signature) != base64.StdEncoding.EncodedLen(sha1.Size) {
		return false
	}
	var sig [28]byte
	copy(sig[:], signature)
	var dec [21]byte // DecodedLen(28) is 21; the final byte is padding
	n, err := base64.StdEncoding.Decode(dec[:], sig[:])
	if err != nil || n != sha1.Size {
		return false
	}
	want := dec[:sha1.Size]

	var stack [2048]byte
	var sum [sha1.Size]byte
	buf := hmacSHA1(&sum, stack[:0], authToken, rawURL, "", "", params)
	if hmac.Equal(sum[:], want) {
		// Returning early only tells a caller that the URL matched as given,
		// which the holder of a valid signature knows anyway; the comparison
		// itself never leaks how much of a forged signature was right.
		return true
	}
	if head, port, tail, has := alternatePortURL(rawURL); has {
		hmacSHA1(&sum, buf[:0], authToken, head, port, tail, params)
		return hmac.Equal(sum[:], want)
	}
	return false
}

// hmacSHA1 computes HMAC-SHA1(authToken, url + sorted params) into sum, the
// URL being given in three pieces (urlHead+urlMid+urlTail) so that a variant
// of it needs no allocation,
// (RFC 2104, written out over sha1.Sum so that the message can be assembled
// in the caller's buffer instead of going through the allocating hash.Hash
// interface). It returns the buffer it used so the caller can reuse it.
func hmacSHA1(sum *[sha1.Size]byte, buf []byte, authToken, urlHead, urlMid, urlTail string, params url.Values) []byte {
	const blockSize = 64
	var key [blockSize]byte
	if len(authToken) > blockSize {
		k := sha1.Sum([]byte(authToken))
		copy(key[:], k[:])
	} else {
		copy(key[:], authToken)
	}
	for i := range key {
		buf = append(buf, key[i]^0x36)
	}
	buf = append(buf, urlHead...)
	buf = append(buf, urlMid...)
	buf = append(buf, urlTail...)
	buf = appendParams(buf, params)
	inner := sha1.Sum(buf)

	var outer [blockSize + sha1.Size]byte
	for i := range key {
		outer[i] = key[i] ^ 0x5c
	}
	copy(outer[blockSize:], inner[:])
	*sum = sha1.Sum(outer[:])
	return buf
}

// appendParams appends the names and values of params to dst in Twilio's
// signing order.
func appendParams(dst []byte, params url.Values) []byte {
	if len(params) == 0 {
		return dst
	}
	var keyStack [32]string
	keys := keyStack[:0]
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs := params[k]
		if len(vs) > 1 && !slices.IsSorted(vs) {
			vs = slices.Clone(vs)
			slices.Sort(vs)
		}
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, v...)
		}
	}
	return dst
}

// alternatePortURL returns, as head+mid+tail, rawURL with its scheme's
// default port added when it has no port, or removed when it has exactly the
// default port. It edits only the authority, so the rest of the URL stays
// byte for byte.
func alternatePortURL(rawURL string) (head, mid, tail string, ok bool) {
	var port string
	switch {
	case hasPrefixFold(rawURL, "https://"):
		port = ":443"
	case hasPrefixFold(rawURL, "http://"):
		port = ":80"
	default:
		return "", "", "", false
	}
	start := strings.Index(rawURL, "://") + 3
	end := len(rawURL)
	if i := strings.IndexAny(rawURL[start:], "/?#"); i >= 0 {
		end = start + i
	}
	authority := rawURL[start:end]
	hostStart := strings.LastIndexByte(authority, '@') + 1 // skip userinfo
	host := authority[hostStart:]
	if host == "" {
		return "", "", "", false
	}
	// The port separator is the last colon outside an IPv6 literal.
	colon := strings.LastIndexByte(host, ':')
	if colon >= 0 && strings.LastIndexByte(host, ']') < colon {
		if host[colon:] != port {
			return "", "", "", false // a non-default port is part of the URL
		}
		return rawURL[:start+hostStart+colon], "", rawURL[end:], true
	}
	return rawURL[:end], port, rawURL[end:], true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
