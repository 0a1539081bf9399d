package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/surge-platform/surge/infra/auth"
	"github.com/surge-platform/surge/infra/config"
)

// tokenCommand is `surge token --complex A --house 101-1203`: a resident
// token for local use, signed with SURGE_RESIDENT_JWT_SECRET.
func tokenCommand(cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	complexID := fs.String("complex", "", "the resident's complex")
	house := fs.String("house", "", "the resident's house")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := config.NewReader(cfg.Source).Raw("SURGE_RESIDENT_JWT_SECRET")
	if secret == "" {
		return errors.New("set SURGE_RESIDENT_JWT_SECRET (the secret the platform verifies resident tokens with)")
	}
	residents, err := auth.NewResidents(secret)
	if err != nil {
		return fmt.Errorf("%w (check SURGE_RESIDENT_JWT_SECRET)", err)
	}
	token, err := residents.Mint(*complexID, *house, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}
