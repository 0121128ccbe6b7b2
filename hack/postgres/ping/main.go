// Command ping checks that the PostgreSQL server the tests will use
// answers, so that CI fails here with one clear line rather than in every
// PostgreSQL test.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: ping postgres://... (SCIM_TEST_POSTGRES_URL is empty?)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err == nil {
		var v string
		if err = conn.QueryRow(ctx, `SHOW server_version`).Scan(&v); err == nil {
			fmt.Println("PostgreSQL", v, "answers")
		}
		conn.Close(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "PostgreSQL for the tests does not answer:", err)
		os.Exit(1)
	}
}
