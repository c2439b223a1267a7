package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	refreshTTL = 14 * 24 * time.Hour
	sessionTTL = 30 * 24 * time.Hour
	accessTTL  = 15 * 60
)

type api struct {
	store          *store
	tokens         *accessTokens
	dummyHash      string
	rotationSecret []byte
}

func newAPI(st *store, tokens *accessTokens) (*api, error) {
	dummy, err := hashPassword(params, "dummy-password-for-unknown-users")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	return &api{store: st, tokens: tokens, dummyHash: dummy, rotationSecret: secret}, nil
}

func (a *api) routes(r *gin.Engine) {
	r.GET("/ping", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "pong"}) })
	r.GET("/api/data", func(c *gin.Context) {
		time.Sleep(10 * time.Millisecond)
		c.JSON(http.StatusOK, gin.H{"status": "success"})
	})
	r.POST("/auth/register", a.register)
	r.POST("/auth/login", a.login)
	r.POST("/auth/refresh", a.refresh)
	r.GET("/auth/me", a.me)
	r.GET("/users", a.users)
}

func problem(c *gin.Context, status int, code, detail string) {
	c.AbortWithStatusJSON(status, gin.H{"code": code, "detail": detail})
}

func internal(c *gin.Context, err error) {
	log.Printf("internal error: %v", err)
	problem(c, http.StatusInternalServerError, "internal_error", "Internal error")
}

func newRefreshToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) []byte {
	sum := sha256.Sum256([]byte(t))
	return sum[:]
}

// successorOf derives the next refresh token from the presented one, as authgate does (HMAC under a secret).
func (a *api) successorOf(t string) string {
	m := hmac.New(sha256.New, a.rotationSecret)
	m.Write([]byte(t))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *api) pair(c *gin.Context, u *user, sessionID, refresh string) {
	access, err := a.tokens.issue(u.ID, sessionID, u.Username, u.Roles, u.EmailVerified)
	if err != nil {
		internal(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"access_token": access, "token_type": "Bearer", "expires_in": accessTTL,
		"refresh_token": refresh})
}

func (a *api) register(c *gin.Context) {
	var req struct {
		Username string `json:"username" binding:"required"`
		Email    string `json:"email" binding:"required"`
		Password string `json:"password" binding:"required"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		problem(c, http.StatusUnprocessableEntity, "validation_failed", "username, email and password are required")
		return
	}
	if len(req.Username) < 3 || len(req.Username) > 32 || !strings.Contains(req.Email, "@") ||
		len(req.Password) < 8 || len(req.Password) > 1024 {
		problem(c, http.StatusUnprocessableEntity, "validation_failed", "invalid username, email or password")
		return
	}
	hash, err := hashPassword(params, req.Password)
	if err != nil {
		internal(c, err)
		return
	}
	now := time.Now().UTC()
	u := &user{ID: newID(), Username: req.Username, Email: req.Email, PasswordHash: hash, Roles: []string{"user"},
		CreatedAt: now, UpdatedAt: now}
	if err := a.store.addUser(c, u); err != nil {
		if errors.Is(err, errConflict) {
			problem(c, http.StatusConflict, "conflict", "username or email already taken")
			return
		}
		internal(c, err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

func (a *api) login(c *gin.Context) {
	var req struct {
		Username string `json:"username" binding:"required"`
		Password string `json:"password" binding:"required"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		problem(c, http.StatusUnprocessableEntity, "validation_failed", "username and password are required")
		return
	}
	u, err := a.store.userByLogin(c, strings.ToLower(req.Username))
	if err != nil {
		internal(c, err)
		return
	}
	if u == nil {
		_, _ = verifyPassword(a.dummyHash, req.Password) // same time as a real check: do not reveal who exists
		problem(c, http.StatusUnauthorized, "invalid_credentials", "Invalid username or password")
		return
	}
	ok, err := verifyPassword(u.PasswordHash, req.Password)
	if err != nil || !ok || u.Disabled {
		problem(c, http.StatusUnauthorized, "invalid_credentials", "Invalid username or password")
		return
	}
	now := time.Now().UTC()
	sess := &session{ID: newID(), UserID: u.ID, ExpiresAt: now.Add(sessionTTL)}
	refresh := newRefreshToken()
	if err := a.store.startSession(c, sess, hashToken(refresh), now, now.Add(refreshTTL)); err != nil {
		internal(c, err)
		return
	}
	a.pair(c, u, sess.ID, refresh)
}

func (a *api) refresh(c *gin.Context) {
	var req struct {
		RefreshToken string `json:"refresh_token" binding:"required"`
	}
	if err := c.ShouldBindJSON(&req); err != nil || len(req.RefreshToken) > 128 {
		problem(c, http.StatusUnprocessableEntity, "validation_failed", "refresh_token is required")
		return
	}
	successor := a.successorOf(req.RefreshToken)
	sess, u, err := a.store.rotate(c, hashToken(req.RefreshToken), hashToken(successor), time.Now().UTC(), refreshTTL)
	switch {
	case errors.Is(err, errTokenUnknown), errors.Is(err, errTokenReused), errors.Is(err, errSessionEnded):
		problem(c, http.StatusUnauthorized, "invalid_refresh_token", err.Error())
		return
	case err != nil:
		internal(c, err)
		return
	}
	a.pair(c, u, sess.ID, successor)
}

// authenticate verifies the bearer token and reads its session and user; it answers 401 itself on failure.
func (a *api) authenticate(c *gin.Context) *user {
	header := c.GetHeader("Authorization")
	if !strings.HasPrefix(header, "Bearer ") {
		problem(c, http.StatusUnauthorized, "invalid_access_token", "A bearer access token is required")
		return nil
	}
	claims, err := a.tokens.verify(header[len("Bearer "):])
	if err != nil {
		problem(c, http.StatusUnauthorized, "invalid_access_token", "Invalid access token")
		return nil
	}
	sess, u, err := a.store.sessionWithUser(c, nil, claims.Sid)
	if err != nil {
		internal(c, err)
		return nil
	}
	if sess == nil || u.ID != claims.Sub || !sess.active(time.Now()) || u.Disabled {
		problem(c, http.StatusUnauthorized, "session_ended", "The session has ended")
		return nil
	}
	return u
}

func (a *api) me(c *gin.Context) {
	if u := a.authenticate(c); u != nil {
		c.JSON(http.StatusOK, u)
	}
}

func (a *api) users(c *gin.Context) {
	u := a.authenticate(c)
	if u == nil {
		return
	}
	if !u.isAdmin() {
		problem(c, http.StatusForbidden, "forbidden", "Admins only")
		return
	}
	limit, err := strconv.Atoi(c.DefaultQuery("limit", "50"))
	if err != nil || limit < 1 || limit > 200 {
		problem(c, http.StatusUnprocessableEntity, "validation_failed", "limit must be 1 to 200")
		return
	}
	var after *time.Time
	var afterID string
	if cursor := c.Query("cursor"); cursor != "" {
		micros, id, ok := strings.Cut(cursor, "_")
		us, err := strconv.ParseInt(micros, 10, 64)
		if !ok || err != nil {
			problem(c, http.StatusUnprocessableEntity, "validation_failed", "bad cursor")
			return
		}
		t := time.UnixMicro(us).UTC()
		after, afterID = &t, id
	}
	items, more, err := a.store.pageUsers(c, after, afterID, limit)
	if err != nil {
		internal(c, err)
		return
	}
	var next interface{}
	if more {
		last := items[len(items)-1]
		next = strconv.FormatInt(last.CreatedAt.UnixMicro(), 10) + "_" + last.ID
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}
