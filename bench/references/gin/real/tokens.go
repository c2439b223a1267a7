package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	// Debian's golang-github-golang-jwt-jwt-dev is v4 (4.4.x), installed in GOPATH at this unversioned path.
	"github.com/golang-jwt/jwt"
)

const leeway = 5 // seconds, as authgate

// accessClaims are the claims of an authgate access token (RFC 9068 profile).
type accessClaims struct {
	Iss           string   `json:"iss"`
	Sub           string   `json:"sub"`
	Aud           string   `json:"aud"`
	Exp           int64    `json:"exp"`
	Iat           int64    `json:"iat"`
	Nbf           int64    `json:"nbf"`
	Jti           string   `json:"jti"`
	Sid           string   `json:"sid"`
	Roles         []string `json:"roles"`
	Username      string   `json:"username"`
	EmailVerified bool     `json:"email_verified"`
}

// Valid checks the time claims; golang-jwt calls it after the signature checked out.
func (c *accessClaims) Valid() error {
	now := time.Now().Unix()
	if c.Exp+leeway <= now {
		return errors.New("the token has expired")
	}
	if c.Nbf-leeway > now || c.Iat-leeway > now {
		return errors.New("the token is not valid yet")
	}
	return nil
}

type accessTokens struct {
	issuer, audience string
	ttl              time.Duration
	kid              string
	private          ed25519.PrivateKey
	public           ed25519.PublicKey
	parser           *jwt.Parser
}

func newAccessTokens(issuer, audience string, ttl time.Duration) (*accessTokens, error) {
	public, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	kid := make([]byte, 8)
	if _, err := rand.Read(kid); err != nil {
		return nil, err
	}
	return &accessTokens{
		issuer: issuer, audience: audience, ttl: ttl, kid: base64.RawURLEncoding.EncodeToString(kid),
		private: private, public: public,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()})),
	}, nil
}

func (a *accessTokens) issue(userID, sessionID, username string, roles []string, emailVerified bool) (string, error) {
	now := time.Now().Unix()
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims := &accessClaims{
		Iss: a.issuer, Sub: userID, Aud: a.audience, Exp: now + int64(a.ttl/time.Second), Iat: now, Nbf: now,
		Jti: base64.RawURLEncoding.EncodeToString(jti), Sid: sessionID, Roles: roles, Username: username,
		EmailVerified: emailVerified,
	}
	token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	token.Header["typ"] = "at+jwt"
	token.Header["kid"] = a.kid
	return token.SignedString(a.private)
}

var errInvalidToken = errors.New("invalid access token")

// verify checks the header, the Ed25519 signature, the time claims, the issuer and the audience.
func (a *accessTokens) verify(raw string) (*accessClaims, error) {
	claims := &accessClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (interface{}, error) {
		if t.Header["typ"] != "at+jwt" || t.Header["kid"] != a.kid {
			return nil, errInvalidToken
		}
		return a.public, nil
	})
	if err != nil {
		return nil, errInvalidToken
	}
	if claims.Iss != a.issuer || claims.Aud != a.audience {
		return nil, errInvalidToken
	}
	return claims, nil
}
