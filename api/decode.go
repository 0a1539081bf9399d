package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
