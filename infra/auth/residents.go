// Package auth verifies and mints resident tokens: HS256 JWTs
// (github.com/golang-jwt/jwt/v5) whose claims say which complex and house
// the bearer is. Alerts carry a resident's house and location, so with a
// secret set only a resident of a complex may listen to it or act in it.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/alert"
	"github.com/surge-platform/surge/handlers"
)

// Residents verifies tokens signed with one shared secret.
type Residents struct{ secret []byte }

// NewResidents uses secret (at least 32 bytes: HS256's key strength).
func NewResidents(secret string) (*Residents, error) {
	if len(secret) < 32 {
		return nil, errors.New("the resident token secret must be at least 32 bytes")
	}
	return &Residents{secret: []byte(secret)}, nil
}

type claims struct {
	Complex string `json:"complex"`
	House   string `json:"house"`
	jwt.RegisteredClaims
}

// Errors a client can act on (401).
var (
	ErrMissingToken = domain.Unauthenticated("token_required", "a resident token is required (Authorization: Bearer <token>, or the STOMP passcode)")
	ErrExpiredToken = domain.Unauthenticated("token_expired", "the resident token has expired")
	ErrInvalidToken = domain.Unauthenticated("invalid_token", "the resident token is not valid")
)

// Verify checks a token and says who bears it.
func (r *Residents) Verify(token string) (handlers.Resident, error) {
	if token == "" {
		return handlers.Resident{}, ErrMissingToken
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return r.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return handlers.Resident{}, ErrExpiredToken
	case err != nil:
		return handlers.Resident{}, ErrInvalidToken
	}
	house, herr := alert.NormalizeHouse(c.House)
	if !alert.ValidComplexID(c.Complex) || herr != nil {
		return handlers.Resident{}, ErrInvalidToken
	}
	return handlers.Resident{ComplexID: c.Complex, House: house}, nil
}

// Mint signs a token for a resident, valid for ttl (`surge token`).
func (r *Residents) Mint(complexID, house string, ttl time.Duration) (string, error) {
	if !alert.ValidComplexID(complexID) {
		return "", fmt.Errorf("complex %q is not a valid complex id", complexID)
	}
	if _, err := alert.NormalizeHouse(house); err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Complex: complexID, House: house, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), Issuer: "surge",
	}}).SignedString(r.secret)
}
