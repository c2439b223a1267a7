// The seed's service on Gin: /ping, the fake /login of the seed's migration chapter, and the 10 ms /api/data.
//
// -engine=new serves with gin.New() (no middleware); -engine=default with gin.Default() (Logger and
// Recovery), which writes one access-log line per request to stdout, as authgate does.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func loginHandler(c *gin.Context) {
	var req struct {
		Username string `json:"username" binding:"required"`
		Password string `json:"password" binding:"required"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": "invalid request"})
		return
	}
	// The seed's "database check": plain string comparison.
	if req.Username == "admin" && req.Password == "secure123" {
		c.JSON(http.StatusOK, gin.H{"token": "fake-jwt-token"})
	} else {
		c.JSON(http.StatusUnauthorized, gin.H{"error": "invalid credentials"})
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	engine := flag.String("engine", "new", "new: gin.New(); default: gin.Default() with Logger and Recovery")
	flag.Parse()

	gin.SetMode(gin.ReleaseMode)
	var r *gin.Engine
	switch *engine {
	case "new":
		r = gin.New()
	case "default":
		r = gin.Default()
	default:
		log.Fatalf("unknown -engine %q", *engine)
	}
	r.GET("/ping", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "pong"}) })
	r.POST("/login", loginHandler)
	r.GET("/api/data", func(c *gin.Context) {
		time.Sleep(10 * time.Millisecond)
		c.JSON(http.StatusOK, gin.H{"status": "success"})
	})
	log.Fatal(r.Run(*addr))
}
