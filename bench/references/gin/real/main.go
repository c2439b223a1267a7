// A Gin service that does authgate's real work, so that the benchmark compares equals:
//
//	POST /auth/register  argon2id hash (m=19456 KiB, t=2, p=1), insert the user
//	POST /auth/login     read the user from PostgreSQL, verify argon2id, start a session, sign an EdDSA JWT
//	GET  /auth/me        verify the EdDSA JWT, read user + session in one query
//	POST /auth/refresh   rotate a single-use refresh token (stored as SHA-256) in a transaction
//	GET  /users?limit=50 admin only: a keyset page of users
//	GET  /ping, GET /api/data (10 ms sleep)
//
// Usage (flags before the command, as Go's flag package wants):
//
//	gin-real -database URL -admin-username U -admin-email E -admin-password P init
//	gin-real -database URL -addr 127.0.0.1:8080 serve
//	gin-real -n 20 hash-cost      (prints the median time of one argon2id hash, in ms, as JSON)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/gin-gonic/gin"
)

var params = hashParams{memoryKiB: 19456, timeCost: 2, parallelism: 1}

func main() {
	database := flag.String("database", os.Getenv("DATABASE_URL"), "PostgreSQL URL")
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (serve)")
	poolSize := flag.Int("pool-size", 10, "database connections (serve)")
	accessLog := flag.Bool("access-log", true, "gin.Default() with its Logger (true) or gin.New() with Recovery only")
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "token issuer")
	audience := flag.String("audience", "authgate", "token audience")
	adminUsername := flag.String("admin-username", "admin", "init: admin username")
	adminEmail := flag.String("admin-email", "admin@example.com", "init: admin email")
	adminPassword := flag.String("admin-password", "", "init: admin password")
	samples := flag.Int("n", 20, "hash-cost: number of hashes")
	flag.Parse()

	ctx := context.Background()
	switch flag.Arg(0) {
	case "hash-cost":
		hashCost(*samples)
	case "init":
		if *adminPassword == "" {
			log.Fatal("init needs -admin-password")
		}
		st := mustOpen(ctx, *database, 2)
		if err := st.migrate(ctx); err != nil {
			log.Fatalf("migrate: %v", err)
		}
		hash, err := hashPassword(params, *adminPassword)
		if err != nil {
			log.Fatal(err)
		}
		now := time.Now().UTC()
		u := &user{ID: newID(), Username: *adminUsername, Email: *adminEmail, PasswordHash: hash,
			Roles: []string{"admin", "user"}, CreatedAt: now, UpdatedAt: now}
		if err := st.addUser(ctx, u); err != nil && err != errConflict {
			log.Fatalf("create admin: %v", err)
		}
	case "serve":
		st := mustOpen(ctx, *database, int32(*poolSize))
		if err := st.migrate(ctx); err != nil {
			log.Fatalf("migrate: %v", err)
		}
		tokens, err := newAccessTokens(*issuer, *audience, 15*time.Minute)
		if err != nil {
			log.Fatal(err)
		}
		a, err := newAPI(st, tokens)
		if err != nil {
			log.Fatal(err)
		}
		gin.SetMode(gin.ReleaseMode)
		var r *gin.Engine
		if *accessLog {
			r = gin.Default()
		} else {
			r = gin.New()
			r.Use(gin.Recovery())
		}
		a.routes(r)
		srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
		log.Fatal(srv.ListenAndServe())
	default:
		fmt.Fprintln(os.Stderr, "usage: gin-real [flags] init|serve|hash-cost")
		os.Exit(2)
	}
}

func mustOpen(ctx context.Context, url string, poolSize int32) *store {
	if url == "" {
		log.Fatal("no -database URL (or DATABASE_URL)")
	}
	st, err := openStore(ctx, url, poolSize)
	if err != nil {
		log.Fatalf("database: %v", err)
	}
	return st
}

func hashCost(n int) {
	ms := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := hashPassword(params, "Bench-Password-7f3a"); err != nil {
			log.Fatal(err)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
	}
	sort.Float64s(ms)
	out, _ := json.Marshal(map[string]interface{}{"median_ms": ms[len(ms)/2], "samples_ms": ms})
	fmt.Println(string(out))
}
