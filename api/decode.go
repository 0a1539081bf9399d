package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads exactly one JSON object into dst: the content type must
// be JSON, the body must fit the limit, and unknown fields are refused.
func decodeJSON(c *gin.Context, maxBytes int64, dst any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err, maxBytes)
		}
		return newError(http.StatusBadRequest, "invalid_json", "the body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error, maxBytes int64) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return newError(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body must not exceed %d bytes", maxBytes))
	case errors.Is(err, io.EOF):
		return newError(http.StatusBadRequest, "empty_body", "the body must be a JSON object")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return newError(http.StatusBadRequest, "invalid_json", "the body must be a JSON object")
		}
		return newError(http.StatusBadRequest, "invalid_type", fmt.Sprintf("field %q must be of type %s", typeErr.Field, typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return newError(http.StatusBadRequest, "unknown_field", fmt.Sprintf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field ")))
	}
	return newError(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
}

func missingField(name string) error {
	return newError(http.StatusBadRequest, "missing_field", fmt.Sprintf("field %q is required", name))
}

// listQuery reads a list's ?after=ID&limit=N (a string cursor: the last id
// of the previous page); nothing else is accepted.
func listQuery(c *gin.Context, def, maxLimit int) (after string, limit int, err error) {
	q, perr := url.ParseQuery(c.Request.URL.RawQuery)
	if perr != nil {
		return "", 0, newError(http.StatusBadRequest, "invalid_query", "the query string is malformed")
	}
	limit = def
	for k, vs := range q {
		if len(vs) != 1 {
			return "", 0, newError(http.StatusBadRequest, "invalid_query", strconv.Quote(k)+" must be given once")
		}
		switch k {
		case "after":
			after = vs[0]
		case "limit":
			if limit, perr = strconv.Atoi(vs[0]); perr != nil || limit < 1 || limit > maxLimit {
				return "", 0, newError(http.StatusBadRequest, "invalid_limit", "limit must be an integer in 1.."+strconv.Itoa(maxLimit))
			}
		default:
			return "", 0, newError(http.StatusBadRequest, "unknown_parameter", "unknown query parameter "+strconv.Quote(k)+" (after and limit are accepted)")
		}
	}
	return after, limit, nil
}

// listPage is a list's answer: its items and the cursor of the next page
// (null on the last).
func listPage[T any](items []T, next string) gin.H {
	if items == nil {
		items = []T{}
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	return gin.H{"items": items, "next": cursor}
}
