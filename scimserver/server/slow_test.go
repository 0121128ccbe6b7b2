package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// slowServer serves e's handler through NewHTTPServer on a real listener and
// returns its address.
func slowServer(t *testing.T, e *env, headerTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer(e.srv, headerTimeout, nil)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// dribble writes s one byte per interval until it is written or the
// connection refuses more; it reports how many bytes went out.
func dribble(conn net.Conn, s string, interval time.Duration) <-chan int {
	done := make(chan int, 1)
	go func() {
		n := 0
		for ; n < len(s); n++ {
			if _, err := conn.Write([]byte{s[n]}); err != nil {
				break
			}
			time.Sleep(interval)
		}
		done <- n
	}()
	return done
}

// Issue #9 item 7: a body arriving one byte per interval is answered 408
// with a SCIM error and the connection is closed, instead of holding the
// handler until the body ends (which would have created the user).
func TestSlowBodyIsAnswered408AndClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RequestTimeout = 200 * time.Millisecond })
	addr := slowServer(t, e, 0)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Only a safety net so a broken server fails the test instead of
	// hanging it; the assertions are on what the server answers.
	_ = conn.SetDeadline(time.Now().Add(time.Minute))

	body := `{"userName":"slow@x"}` + strings.Repeat(" ", 60)
	head := fmt.Sprintf("POST %s/Users HTTP/1.1\r\nHost: scim\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n", basePath, writeToken, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	sent := dribble(conn, body, 25*time.Millisecond)

	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408; body %s", res.StatusCode, raw)
	}
	var eb errorBody
	if err := json.Unmarshal(raw, &eb); err != nil || eb.Status != "408" || eb.Schemas[0] != errorURN {
		t.Fatalf("not a SCIM error body: %s (%v)", raw, err)
	}
	if ct := res.Header.Get("Content-Type"); ct != ContentType || !res.Close {
		t.Fatalf("Content-Type %q, Connection close %v", ct, res.Close)
	}
	// The server closes its side: the next read ends, with no second answer.
	if n, err := br.ReadByte(); err == nil {
		t.Fatalf("read %q after the 408, want the connection closed", n)
	}
	if n := <-sent; n == len(body) {
		t.Fatalf("the whole body was accepted byte by byte")
	}
	if n := e.findUser("slow@x"); n != 0 {
		t.Fatal("the slow request created the user")
	}
}

// A body that arrives in time is unaffected by the read deadline, and the
// connection is reused for the next request.
func TestBodyInTimeKeepsTheConnection(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RequestTimeout = 5 * time.Second })
	addr := slowServer(t, e, 0)
	client := &http.Client{Transport: &http.Transport{}}
	var reused []bool
	for _, name := range []string{"one@x", "two@x"} {
		body, _ := json.Marshal(user(name))
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+basePath+"/Users", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+writeToken)
		req.Header.Set("Content-Type", ContentType)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) },
		}))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("%s: status %d", name, res.StatusCode)
		}
	}
	if len(reused) != 2 || !reused[1] {
		t.Fatalf("connection reuse %v, want the second request on the first connection", reused)
	}
	if n := e.findUser("two@x"); n != 1 {
		t.Fatalf("found %d", n)
	}
}

// Headers that never finish are cut off by ReadHeaderTimeout: the
// connection is closed, long before the dribble would
// have completed the request (which would then have been answered).
func TestSlowHeadersAreClosed(t *testing.T) {
	e := newEnv(t)
	addr := slowServer(t, e, 200*time.Millisecond)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	head := "GET " + basePath + "/Users HTTP/1.1\r\nHost: scim\r\nX-Padding: " + strings.Repeat("p", 100) + "\r\n\r\n"
	sent := dribble(conn, head, 25*time.Millisecond)
	raw, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading: %v", err)
	}
	// net/http answers a plain 400 and closes (it has no request to route
	// yet); the finished request would have been answered 401 (no token).
	if len(raw) != 0 && !(strings.HasPrefix(string(raw), "HTTP/1.1 400 ") && strings.Contains(string(raw), "Connection: close")) {
		t.Fatalf("unfinished headers got %q, want the connection closed", raw)
	}
	if n := <-sent; n == len(head) {
		t.Fatal("the whole header block was accepted byte by byte")
	}
}
