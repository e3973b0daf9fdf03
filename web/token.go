package web

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/foliodocs/folio/collab"
	"github.com/foliodocs/folio/storage"
)

// Token format. Folio keeps no user database: the host application mints
// short-lived HS256 JWTs with its copy of the secret, one per person and
// document, and Folio checks them by value on every request and WebSocket
// join.
const (
	TokenAudience  = "folio" // the required "aud"
	TokenAllDocs   = "*"     // a "doc" claim valid for every document
	MinSecretBytes = 32      // HS256 wants a key at least as long as its hash
	maxTokenName   = 64      // runes of the "name" claim kept (collab's cap too)
)

// tokenMethod is the only signing method accepted: a token that names
// another one ("none", RS256 with the secret as a public key...) is refused
// before its signature is looked at.
var tokenMethod = jwt.SigningMethodHS256

// TokenClaims are the claims of a Folio token.
type TokenClaims struct {
	Doc  string `json:"doc"`            // a document id, or TokenAllDocs
	Role string `json:"role"`           // view, edit or admin
	Name string `json:"name,omitempty"` // the name others see
	jwt.RegisteredClaims
}

// TokenAuth verifies and mints tokens signed with one secret. It is
// immutable after NewTokenAuth and safe for concurrent use.
type TokenAuth struct {
	secret []byte
	now    func() time.Time
}

// NewTokenAuth returns a TokenAuth for secret, which must be at least
// MinSecretBytes long. now is the clock (nil: time.Now).
func NewTokenAuth(secret []byte, now func() time.Time) (*TokenAuth, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("token secret is %d bytes; use at least %d random bytes", len(secret), MinSecretBytes)
	}
	if now == nil {
		now = time.Now
	}
	return &TokenAuth{secret: append([]byte(nil), secret...), now: now}, nil
}

// Token refusals. Their messages are safe to show and never echo the token.
var (
	errTokenMissing = apiError(codeForbidden, "a token is required")
	errTokenInvalid = apiError(codeForbidden, "invalid token")
	errTokenExpired = apiError(codeForbidden, "token expired")
	errTokenDoc     = apiError(codeForbidden, "the token is not for this document")
)

// Authorize is the Options.Authorize hook: it verifies token (signature,
// HS256 only, expiry required and not passed, audience folio, known role)
// and that its doc claim covers docID ("" — an operation not about one
// document — is covered only by TokenAllDocs). Role checks against what
// the request needs are the caller's.
func (a *TokenAuth) Authorize(docID, token string) (collab.Grant, error) {
	if token == "" {
		return collab.Grant{}, errTokenMissing
	}
	c, err := a.Parse(token)
	if err != nil {
		return collab.Grant{}, err
	}
	if c.Doc != TokenAllDocs && (c.Doc != docID || docID == "") {
		return collab.Grant{}, errTokenDoc
	}
	g := collab.Grant{Role: collab.Role(c.Role), Name: c.Name}
	if c.ExpiresAt != nil { // Parse requires it.
		// On this process's clock, which live sessions are timed by (a.now
		// may be another, in tests).
		g.Expires = time.Now().Add(c.ExpiresAt.Sub(a.now()))
	}
	return g, nil
}

// Parse verifies token and returns its claims, with the name clipped.
func (a *TokenAuth) Parse(token string) (TokenClaims, error) {
	var c TokenClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{tokenMethod.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(TokenAudience),
		jwt.WithTimeFunc(a.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return TokenClaims{}, errTokenExpired
	case err != nil:
		return TokenClaims{}, errTokenInvalid
	case !validRole(c.Role) || !validDocClaim(c.Doc):
		return TokenClaims{}, errTokenInvalid
	}
	c.Name = clipName(c.Name)
	return c, nil
}

// TokenSpec is what Mint puts in a token.
type TokenSpec struct {
	Doc  string        // a document id, or TokenAllDocs
	Role string        // view, edit or admin
	Name string        // optional display name
	TTL  time.Duration // lifetime; must be positive
}

// Mint returns a signed token for spec, for the `folio token` command, tests
// and host applications written in Go.
func (a *TokenAuth) Mint(spec TokenSpec) (string, error) {
	switch {
	case !validDocClaim(spec.Doc):
		return "", fmt.Errorf("doc %q: use a document id or %q", spec.Doc, TokenAllDocs)
	case !validRole(spec.Role):
		return "", fmt.Errorf("role %q: use view, edit or admin", spec.Role)
	case spec.TTL <= 0:
		return "", errors.New("ttl must be positive")
	case !utf8.ValidString(spec.Name) || utf8.RuneCountInString(spec.Name) > maxTokenName:
		return "", fmt.Errorf("name must be valid UTF-8 of at most %d characters", maxTokenName)
	}
	now := a.now()
	c := TokenClaims{Doc: spec.Doc, Role: spec.Role, Name: spec.Name, RegisteredClaims: jwt.RegisteredClaims{
		Audience:  jwt.ClaimStrings{TokenAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(spec.TTL)),
	}}
	return jwt.NewWithClaims(tokenMethod, c).SignedString(a.secret)
}

func validRole(r string) bool { return r == roleView || r == roleEdit || r == roleAdmin }

func validDocClaim(d string) bool { return d == TokenAllDocs || storage.ValidID(d) }

// clipName keeps at most maxTokenName runes of a valid UTF-8 name (collab
// cleans it further for display).
func clipName(s string) string {
	s = strings.ToValidUTF8(s, "")
	if utf8.RuneCountInString(s) <= maxTokenName {
		return s
	}
	return string([]rune(s)[:maxTokenName])
}
