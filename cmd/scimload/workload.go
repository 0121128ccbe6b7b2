package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request kinds, the rows of the report.
const (
	kProbeUsers   = "GET /Users?filter (probe GUID)"
	kProbeGroups  = "GET /Groups?filter (probe GUID)"
	kFilterUser   = "GET /Users?filter userName eq"
	kCreateUser   = "POST /Users"
	kFilterGroup  = "GET /Groups?filter displayName eq"
	kCreateGroup  = "POST /Groups"
	kAddMembers   = "PATCH /Groups (Add members)"
	kPatchUser    = "PATCH /Users (incremental)"
	kLookup       = "GET /Users?filter userName eq (lookup)"
	kCreateTimed  = "POST /Users (create)"
	kScanFilter   = "GET /Users?filter title co (scan)"
	kScanSorted   = "GET /Users?sortBy=name.familyName (scan)"
	kSortedPage   = "GET /Users?sortBy=userName (index)"
	kScanLookup   = "GET /Users?filter userName eq (during scans)"
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchOpURN    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

type loader struct {
	o     *options
	hc    *http.Client
	base  string // tenant base URL without query
	extra string // query kept from --url, e.g. aadOptscim062020
	rec   *recorder

	ids   []string       // user ids by index, filled by sync
	phase func(p string) // names the current phase for the memory sampler
}

// statusError is an unexpected HTTP status.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	b := e.body
	if len(b) > 200 {
		b = b[:200]
	}
	return fmt.Sprintf("status %d: %s", e.status, b)
}

// do sends one request and records it under kind; a status other than want
// is an error. It returns the response body.
func (l *loader) do(ctx context.Context, kind, method, path string, q url.Values, body []byte, want int) ([]byte, error) {
	u := l.base + path
	qs := q.Encode()
	if l.extra != "" {
		if qs != "" {
			qs += "&"
		}
		qs += l.extra
	}
	if qs != "" {
		u += "?" + qs
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.o.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	if l.o.host != "" {
		req.Host = l.o.host
	}
	start := time.Now()
	res, err := l.hc.Do(req)
	if err != nil {
		l.rec.add(kind, start, err)
		return nil, err
	}
	out, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != want {
		err = &statusError{res.StatusCode, string(out)}
	}
	l.rec.add(kind, start, err)
	return out, err
}

// each runs fn(i) for i in [0,n) on the configured number of workers and
// returns the first error; the other workers stop soon after it.
func (l *loader) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(l.o.concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// timed runs fn on every worker until d has passed.
func (l *loader) timed(ctx context.Context, d time.Duration, fn func(ctx context.Context, w, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range l.o.concurrency {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				if err := fn(ctx, w, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return nil
}

func guid() string {
	var b [16]byte
	crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// q builds a query in the order Entra sends it.
func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func eq(attr, value string) string { return attr + ` eq "` + value + `"` }

// listResult is the part of a ListResponse the loader needs.
type listResult struct {
	TotalResults int `json:"totalResults"`
	Resources    []struct {
		ID string `json:"id"`
	} `json:"Resources"`
}

// matchOne decodes a filter answer: the id of the single match, "" when
// empty, an error when Entra would see DuplicateTargetEntries.
func matchOne(body []byte) (string, error) {
	var lr listResult
	if err := json.Unmarshal(body, &lr); err != nil {
		return "", fmt.Errorf("ListResponse: %w", err)
	}
	switch {
	case lr.TotalResults == 0 && len(lr.Resources) == 0:
		return "", nil
	case lr.TotalResults == 1 && len(lr.Resources) == 1 && lr.Resources[0].ID != "":
		return lr.Resources[0].ID, nil
	}
	return "", fmt.Errorf("filter matched %d resources", lr.TotalResults)
}

func createdID(body []byte) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.ID == "" {
		return "", fmt.Errorf("created resource without id: %.200s", body)
	}
	return r.ID, nil
}

func (l *loader) userName(i int) string { return fmt.Sprintf("%s%06d@contoso.com", l.o.prefix, i) }

// userBody is a POST /Users in the shape and size Entra sends with the
// default attribute mapping (S1 table), including the read-only meta and
// an empty roles array. It is formatted, not marshalled, to keep the
// generator's CPU share small on a machine it shares with the server.
func userBody(userName string, i int) []byte {
	return fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","%[3]s"],`+
		`"externalId":"%[1]s-%[2]d","userName":%[4]q,"active":true,"displayName":"User %[2]d","title":"Engineer",`+
		`"preferredLanguage":"en-US","emails":[{"primary":true,"type":"work","value":%[4]q}],`+
		`"name":{"formatted":"User %[2]d","familyName":"%[2]d","givenName":"User"},`+
		`"addresses":[{"type":"work","primary":true,"formatted":"Bldg %[5]d","streetAddress":"%[2]d Main St","locality":"Redmond","region":"WA","postalCode":"98052","country":"US"}],`+
		`"phoneNumbers":[{"type":"work","value":"+1 425 555 %04[5]d"},{"type":"mobile","value":"+1 425 556 %04[5]d"}],`+
		`"%[3]s":{"employeeNumber":"%[2]d","department":"Dept %[6]d"},"roles":[],"meta":{"resourceType":"User"}}`,
		"ext", i, enterpriseURN, userName, i%10000, i%50)
}

// sync runs a full initial provisioning cycle followed by an incremental
// pass, in the order Entra does it (§2.3): users first, then groups and
// their memberships as a separate reference step.
func (l *loader) sync(ctx context.Context) error {
	o := l.o
	// Test Connection and the start of every provisioning activity.
	if b, err := l.do(ctx, kProbeUsers, "GET", "/Users", q("filter", eq("userName", guid())), nil, 200); err != nil {
		return err
	} else if id, err := matchOne(b); err != nil || id != "" {
		return fmt.Errorf("probe: want an empty ListResponse, got %.200s", b)
	}
	if b, err := l.do(ctx, kProbeGroups, "GET", "/Groups",
		q("excludedAttributes", "members", "filter", eq("displayName", guid())), nil, 200); err != nil {
		return err
	} else if id, err := matchOne(b); err != nil || id != "" {
		return fmt.Errorf("probe: want an empty ListResponse, got %.200s", b)
	}

	l.phase("sync users")
	l.ids = make([]string, o.users)
	t0 := time.Now()
	err := l.each(ctx, o.users, func(ctx context.Context, i int) error {
		name := l.userName(i)
		b, err := l.do(ctx, kFilterUser, "GET", "/Users", q("filter", eq("userName", name)), nil, 200)
		if err != nil {
			return err
		}
		id, err := matchOne(b)
		if err != nil {
			return err
		}
		if id == "" {
			if b, err = l.do(ctx, kCreateUser, "POST", "/Users", nil, userBody(name, i), 201); err != nil {
				return err
			}
			if id, err = createdID(b); err != nil {
				return err
			}
		}
		l.ids[i] = id
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("  users:   %d in %.1f s (%.0f users/s: filter + create each)\n", o.users, time.Since(t0).Seconds(),
		float64(o.users)/time.Since(t0).Seconds())

	l.phase("sync groups")
	t0 = time.Now()
	err = l.each(ctx, o.groups, func(ctx context.Context, g int) error {
		name := fmt.Sprintf("%s group %04d", o.prefix, g)
		b, err := l.do(ctx, kFilterGroup, "GET", "/Groups", q("excludedAttributes", "members", "filter", eq("displayName", name)), nil, 200)
		if err != nil {
			return err
		}
		gid, err := matchOne(b)
		if err != nil {
			return err
		}
		if gid == "" {
			body := fmt.Appendf(nil, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",`+
				`"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],`+
				`"externalId":%q,"displayName":%q,"meta":{"resourceType":"Group"}}`, guid(), name)
			if b, err = l.do(ctx, kCreateGroup, "POST", "/Groups", nil, body, 201); err != nil {
				return err
			}
			if gid, err = createdID(b); err != nil {
				return err
			}
		}
		// Memberships are a reference step: PATCH Add with several ids
		// per op, one request after the other for the same group.
		for k := 0; k < o.members; k += o.memberBatch {
			var vals []map[string]any
			for j := k; j < min(k+o.memberBatch, o.members); j++ {
				vals = append(vals, map[string]any{"$ref": nil, "value": l.ids[(g*o.members+j)%o.users]})
			}
			body, _ := json.Marshal(map[string]any{"schemas": []string{patchOpURN},
				"Operations": []any{map[string]any{"op": "Add", "path": "members", "value": vals}}})
			if _, err := l.do(ctx, kAddMembers, "PATCH", "/Groups/"+gid, nil, body, 204); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if o.groups > 0 {
		fmt.Printf("  groups:  %d with %d members in %.1f s\n", o.groups, o.members, time.Since(t0).Seconds())
	}

	// Incremental cycle: a sample of users changes. The shapes rotate
	// through what Entra sends with and without aadOptscim062020.
	l.phase("sync updates")
	t0 = time.Now()
	step := max(1, o.users/max(1, o.updates))
	n := min(o.updates, o.users)
	err = l.each(ctx, n, func(ctx context.Context, k int) error {
		i := (k * step) % o.users
		var ops []any
		switch k % 4 {
		case 0: // legacy: one capitalised op per attribute
			ops = []any{
				map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "renamed-" + l.userName(i)},
				map[string]any{"op": "Replace", "path": "name.familyName", "value": "Smith" + strconv.Itoa(i)},
				map[string]any{"op": "Replace", "path": "displayName", "value": "User Smith " + strconv.Itoa(i)},
				map[string]any{"op": "Replace", "path": enterpriseURN + ":employeeNumber", "value": "E" + strconv.Itoa(i)},
				map[string]any{"op": "Add", "path": `addresses[type eq "work"].postalCode`, "value": "98053"},
				map[string]any{"op": "Add", "path": "nickName", "value": "Nick"},
			}
		case 1: // legacy disable: active as the string "False"
			ops = []any{map[string]any{"op": "Replace", "path": "active", "value": "False"}}
		case 2: // manager set after create, by URN path, as a string id
			ops = []any{map[string]any{"op": "Add", "path": enterpriseURN + ":manager", "value": l.ids[(i+1)%o.users]}}
		case 3: // aadOptscim062020: pathless replace with dotted keys
			ops = []any{
				map[string]any{"op": "replace", "path": `emails[type eq "work"].value`, "value": "new-" + l.userName(i)},
				map[string]any{"op": "replace", "value": map[string]any{
					"displayName": "Jane " + strconv.Itoa(i), "name.givenName": "Jane", "name.familyName": "Doe" + strconv.Itoa(i),
					enterpriseURN + ":employeeNumber": "F" + strconv.Itoa(i)}},
				map[string]any{"op": "replace", "path": "active", "value": true},
			}
		}
		body, _ := json.Marshal(map[string]any{"schemas": []string{patchOpURN}, "Operations": ops})
		_, err := l.do(ctx, kPatchUser, "PATCH", "/Users/"+l.ids[i], nil, body, 200)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("  updates: %d user PATCHes in %.1f s\n", n, time.Since(t0).Seconds())
	return nil
}

// lookup runs filter userName eq over the --users userNames a sync with the
// same --prefix created, in random order, for --duration.
func (l *loader) lookup(ctx context.Context) error {
	l.phase("lookup")
	var hits, total atomic.Int64
	err := l.timed(ctx, l.o.duration, func(ctx context.Context, w, _ int) error {
		name := l.userName(rand.IntN(l.o.users))
		b, err := l.do(ctx, kLookup, "GET", "/Users", q("filter", eq("userName", name)), nil, 200)
		if err != nil {
			return err
		}
		id, err := matchOne(b)
		if err != nil {
			return err
		}
		total.Add(1)
		if id != "" {
			hits.Add(1)
		}
		return nil
	})
	fmt.Printf("  lookups: %d, %d found a user\n", total.Load(), hits.Load())
	return err
}

// create POSTs new users for --duration.
func (l *loader) create(ctx context.Context) error {
	l.phase("create")
	run := time.Now().UnixNano() % 1_000_000
	return l.timed(ctx, l.o.duration, func(ctx context.Context, w, i int) error {
		name := fmt.Sprintf("%s-c%06d-w%03d-%07d@contoso.com", l.o.prefix, run, w, i)
		_, err := l.do(ctx, kCreateTimed, "POST", "/Users", nil, userBody(name, i), 201)
		return err
	})
}

// scan runs, for --duration, list requests no index answers (an
// unindexed filter, and a deep page sorted on an unindexed attribute, each
// reading every user) and deep pages sorted on userName (which its index
// answers) on --scan-concurrency workers, and userName lookups on the
// other workers. Entra never sends these lists; an app browsing the
// directory might. The phase shows their latency, how the lookups fare
// meanwhile, and (with --spawn) that memory stays bounded.
func (l *loader) scan(ctx context.Context) error {
	l.phase("scan")
	return l.timed(ctx, l.o.duration, func(ctx context.Context, w, i int) error {
		start := strconv.Itoa(1 + rand.IntN(l.o.users))
		var err error
		switch {
		case w >= l.o.scanConcurrency:
			name := l.userName(rand.IntN(l.o.users))
			_, err = l.do(ctx, kScanLookup, "GET", "/Users", q("filter", eq("userName", name)), nil, 200)
		case i%3 == 0:
			_, err = l.do(ctx, kScanFilter, "GET", "/Users", q("filter", `title co "nobody"`, "count", "100"), nil, 200)
		case i%3 == 1:
			_, err = l.do(ctx, kScanSorted, "GET", "/Users", q("sortBy", "name.familyName", "startIndex", start, "count", "100"), nil, 200)
		default:
			_, err = l.do(ctx, kSortedPage, "GET", "/Users", q("sortBy", "userName", "sortOrder", "descending", "startIndex", start, "count", "100"), nil, 200)
		}
		return err
	})
}
