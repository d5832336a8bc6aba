package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"switchboard/store"
)

// decodeBody decodes the JSON object in the request body into dst. Unknown
// fields are ignored (Bonsai clients send fields Switchboard does not use);
// a known field of the wrong type is an EINVALID FieldError naming it;
// malformed JSON and a non-object body are EINVALID, an oversized body
// ETOOLARGE (413).
func decodeBody(r *http.Request, dst any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(b, dst)
}

// readBody reads the whole (size-limited) request body. A non-empty body
// must be declared JSON (Content-Type application/json): a web page can
// send a text/plain or form POST to any server its visitor's browser
// reaches without asking first (no CORS preflight), and with that, for
// example, claim a freshly started server's setup; a JSON body can only
// be sent cross-origin after a preflight that CORS_ALLOWED_ORIGINS answers.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, store.Errorf(store.ETOOLARGE, "request body exceeds %d bytes", mb.Limit)
		}
		return nil, store.Errorf(store.EINVALID, "cannot read request body")
	}
	if len(bytes.TrimSpace(b)) > 0 && !jsonContentType(r.Header.Get("Content-Type")) {
		return nil, store.Errorf(store.EMEDIATYPE, "request body must be sent with Content-Type: application/json")
	}
	return b, nil
}

// jsonContentType reports whether a Content-Type names JSON
// (application/json, or a +json type), parameters aside.
func jsonContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// decodeJSON is decodeBody over bytes already read.
func decodeJSON(b []byte, dst any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return store.Errorf(store.EINVALID, "request body must be a JSON object")
	}
	if err := json.Unmarshal(b, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return store.FieldError(field, "must be %s", jsonKind(te.Type))
		}
		var fe *store.Error
		if errors.As(err, &fe) {
			return fe
		}
		return store.Errorf(store.EINVALID, "malformed JSON: %v", err)
	}
	return nil
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

// nullable is a JSON field that tells "absent" (Set false) from null
// (Set and Null) from a value. PUT bodies use it where null means "reset".
type nullable[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(b, &n.Value)
}

// versionBody is the part of PUT and DELETE bodies naming the expected
// version.
type versionBody struct {
	Version *int64 `json:"version"`
}

// requireVersion returns *v or a FieldError when the version is missing or
// not positive.
func requireVersion(v *int64) (int64, error) {
	if v == nil {
		return 0, store.FieldError("version", "required")
	}
	if *v < 1 {
		return 0, store.FieldError("version", "must be a positive integer")
	}
	return *v, nil
}

// decodeOptionalBody is decodeBody for requests whose body may be empty;
// an empty body leaves dst as it is.
func decodeOptionalBody(r *http.Request, dst any) error {
	b, err := readBody(r)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return err
	}
	return decodeJSON(b, dst)
}

// deleteVersion reads a DELETE's expected version from the JSON body
// {"version":N} or, when the body is empty, from ?version=N.
func deleteVersion(r *http.Request) (int64, error) {
	var vb versionBody
	if err := decodeOptionalBody(r, &vb); err != nil {
		return 0, err
	}
	if vb.Version == nil {
		if q := r.URL.Query().Get("version"); q != "" {
			v, err := strconv.ParseInt(q, 10, 64)
			if err != nil {
				return 0, store.FieldError("version", "must be a positive integer")
			}
			vb.Version = &v
		}
	}
	return requireVersion(vb.Version)
}

// pathVar returns a route variable.
func pathVar(r *http.Request, name string) string {
	return mux.Vars(r)[name]
}

// idRe is what a client-chosen resource ID may look like.
var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$`)

// newID returns the client-chosen id if valid, or a fresh ID with prefix
// when the client chose none.
func newID(chosen, prefix string) (string, error) {
	if chosen == "" {
		return store.NewID(prefix), nil
	}
	if !idRe.MatchString(chosen) {
		return "", store.FieldError("id", "must be 1-128 letters, digits or . _ @ + : - and start with a letter or digit")
	}
	return chosen, nil
}

// maxNameChars is the longest name, in characters (runes, so that a name
// in any script gets the same allowance the message promises).
const maxNameChars = 200

// requireName trims a required name field and checks it.
func requireName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", store.FieldError(field, "required")
	}
	if utf8.RuneCountInString(name) > maxNameChars {
		return "", store.FieldError(field, "must be at most %d characters", maxNameChars)
	}
	// Names are shown in consoles and logs: control characters (NUL,
	// CR/LF, escape sequences) and invalid UTF-8 have no place in them.
	if !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", store.FieldError(field, "must not contain control characters")
	}
	return name, nil
}

// objectOrNull checks that raw, when present, is a JSON object or null; it
// returns nil for null or absent.
func objectOrNull(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, store.FieldError(field, "must be an object")
	}
	return raw, nil
}
