package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// hashParams are authgate's defaults: argon2id, m=19456 KiB, t=2, p=1, 16-byte salt, 32-byte hash.
type hashParams struct {
	memoryKiB   uint32
	timeCost    uint32
	parallelism uint8
}

var errMalformedHash = errors.New("malformed argon2id hash")

var phc = base64.RawStdEncoding

// hashPassword returns a self-describing PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func hashPassword(p hashParams, password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.timeCost, p.memoryKiB, p.parallelism, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memoryKiB, p.timeCost, p.parallelism, phc.EncodeToString(salt), phc.EncodeToString(key)), nil
}

// verifyPassword recomputes the hash with the parameters and salt stored in `encoded`, in constant time.
func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errMalformedHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errMalformedHash
	}
	salt, err := phc.DecodeString(parts[4])
	if err != nil {
		return false, errMalformedHash
	}
	want, err := phc.DecodeString(parts[5])
	if err != nil {
		return false, errMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
