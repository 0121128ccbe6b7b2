// Command directory-mirror is an example application that consumes a
// tenant's directory through a ScimWebhook: it verifies each delivery's
// Standard Webhooks signature, keeps an in-memory copy of the users, groups
// and memberships, and shows it at GET /mirror.
//
//	directory-mirror --listen 127.0.0.1:8490 --secret-file /etc/mirror/secret
//
// The secret file is the webhook's Secret key "secret" (mount the Secret;
// the file is re-read on every request, so rotations need no restart). The
// ScimWebhook's url is http://<this service>/webhook. See docs/consume.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/examples/directory-mirror/mirror"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8490", "address to listen on")
	secretFile := flag.String("secret-file", "", "file holding the whsec_ signing secret(s), whitespace separated; default: env WEBHOOK_SECRET")
	flag.Parse()

	secrets := func() []string { return strings.Fields(os.Getenv("WEBHOOK_SECRET")) }
	if *secretFile != "" {
		secrets = func() []string {
			raw, err := os.ReadFile(*secretFile)
			if err != nil {
				log.Printf("reading %s: %v", *secretFile, err)
				return nil
			}
			return strings.Fields(string(raw))
		}
	}
	if len(secrets()) == 0 {
		fmt.Fprintln(os.Stderr, "directory-mirror: no signing secret: set --secret-file or WEBHOOK_SECRET")
		os.Exit(2)
	}
	h := &mirror.Handler{Dir: mirror.NewDirectory(), Secrets: secrets}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("directory-mirror: receiving webhooks at http://%s/webhook, mirror at http://%s/mirror", *listen, *listen)
	log.Fatal(srv.ListenAndServe())
}
