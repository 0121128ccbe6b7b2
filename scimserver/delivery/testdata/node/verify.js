// Verifies webhook requests recorded by TestSignaturesVerifyWithNodeLibrary
// with the npm package standardwebhooks (an implementation independent of
// the Go library the server signs with).
// stdin: JSON array of {secret, headers: {webhook-id, webhook-timestamp,
// webhook-signature}, body}; stdout: JSON array of {ok, error}.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((c) => {
    try {
      new Webhook(c.secret).verify(c.body, c.headers);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
