package delivery

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/utils/clock"

	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// nodeDir holds the npm cross-check: package.json pins standardwebhooks,
// .ci/run installs it into node_modules.
const nodeDir = "testdata/node"

// TestSignaturesVerifyWithNodeLibrary verifies real deliveries (one signed
// with two secrets, as during a rotation) with the npm standardwebhooks
// package, an implementation independent of the Go library we sign with,
// and checks that it rejects a tampered body and a wrong secret. In CI a
// missing node or package fails the test; locally it skips with the
// install command.
func TestSignaturesVerifyWithNodeLibrary(t *testing.T) {
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(nodeDir, "node_modules", "standardwebhooks", "package.json"))
	if err != nil || modErr != nil {
		msg := "node and the npm package standardwebhooks are needed: run `npm install --prefix scimserver/delivery/" + nodeDir + " standardwebhooks@1.1.1` (.ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	// Real clock: the npm library checks the timestamp against now.
	h := newHarness(t, nil, nil, "a")
	h.m.o.Clock = clock.RealClock{}
	rc := newReceiver(t)
	oldS, newS := testSecret(1), testSecret(100)
	h.log.add(3)
	h.set(true,
		hook("single", rc.srv.URL, func(w *webhookconfig.Webhook) { w.Secrets = []string{newS, oldS} }),
	)
	eventually(t, "3 delivered", func() bool { return len(rc.seqs()) == 3 }, nil)

	type tc struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		want    bool
	}
	var cases []tc
	for _, r := range rc.requests() {
		hdr := map[string]string{}
		for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			hdr[k] = r.header.Get(k)
		}
		cases = append(cases,
			tc{oldS, hdr, string(r.body), true},
			tc{newS, hdr, string(r.body), true},
			tc{testSecret(200), hdr, string(r.body), false},
			tc{newS, hdr, string(r.body) + " ", false},
		)
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = nodeDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.js: %v\n%s", err, stderr.String())
	}
	var results []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i, r := range results {
		if r.OK != cases[i].want {
			t.Errorf("case %d (request %d): npm standardwebhooks verify = %v (%s), want %v", i, i/4, r.OK, r.Error, cases[i].want)
		}
	}
}
