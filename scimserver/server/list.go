package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/filter"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// listResponse is RFC 7644 §3.4.2's ListResponse. The counters are always
// present as integers and Resources always an array (capital R): Entra
// refuses anything else.
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

// listParams is a list or search request, from the query or a SearchRequest.
type listParams struct {
	filter             string
	sortBy, sortOrder  string
	startIndex, count  int
	attributes, exclAt []string
	// acrossTypes is set for a root search over several types: a sortBy
	// one type lacks sorts that type's resources last (see sortOrder).
	acrossTypes bool
}

// paramsFromQuery reads list parameters; unknown ones (aadOptscim062020)
// are ignored. Parameter names are matched case-insensitively.
func paramsFromQuery(r *http.Request) (listParams, error) {
	p := listParams{startIndex: 1, count: DefaultCount}
	for k, vs := range r.URL.Query() {
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch strings.ToLower(k) {
		case "filter":
			p.filter = v
		case "sortby":
			p.sortBy = v
		case "sortorder":
			p.sortOrder = v
		case "startindex":
			n, err := parseInt("startIndex", v)
			if err != nil {
				return p, err
			}
			p.startIndex = n
		case "count":
			n, err := parseInt("count", v)
			if err != nil {
				return p, err
			}
			p.count = n
		case "attributes":
			p.attributes = vs
		case "excludedattributes":
			p.exclAt = vs
		}
	}
	p.clamp()
	return p, nil
}

func parseInt(name, v string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an integer, got %q", name, v)
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	if n < math.MinInt32 {
		n = math.MinInt32
	}
	return int(n), nil
}

// clamp applies RFC 7644 §3.4.2.4: startIndex < 1 means 1, a negative count
// means 0, and count is capped at MaxCount.
func (p *listParams) clamp() {
	if p.startIndex < 1 {
		p.startIndex = 1
	}
	if p.count < 0 {
		p.count = 0
	}
	if p.count > MaxCount {
		p.count = MaxCount
	}
}

// paramsFromSearch reads a POST .search SearchRequest body.
func paramsFromSearch(r *http.Request) (listParams, error) {
	p := listParams{startIndex: 1, count: DefaultCount}
	body, err := readObject(r)
	if err != nil {
		return p, err
	}
	for k, v := range body {
		switch strings.ToLower(k) {
		case "filter":
			p.filter, err = searchString(k, v)
		case "sortby":
			p.sortBy, err = searchString(k, v)
		case "sortorder":
			p.sortOrder, err = searchString(k, v)
		case "startindex":
			p.startIndex, err = searchInt(k, v, 1)
		case "count":
			p.count, err = searchInt(k, v, DefaultCount)
		case "attributes":
			p.attributes, err = searchList(k, v)
		case "excludedattributes":
			p.exclAt, err = searchList(k, v)
		}
		if err != nil {
			return p, err
		}
	}
	p.clamp()
	return p, nil
}

func searchString(k string, v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	}
	return "", scimerr.BadRequest(scimerr.InvalidValue, "%s must be a string", k)
}

func searchInt(k string, v any, def int) (int, error) {
	switch t := v.(type) {
	case nil:
		return def, nil
	case json.Number:
		return parseInt(k, t.String())
	case string:
		return parseInt(k, t)
	}
	return 0, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an integer", k)
}

func searchList(k string, v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an array of strings", k)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an array of strings", k)
}

// list handles GET /Users and GET /Groups.
func (s *Server) list(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType) {
	p, err := paramsFromQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveList(w, r, []*schema.ResourceType{rt}, p)
}

// search handles POST /Users/.search and POST /Groups/.search.
func (s *Server) search(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType) {
	p, err := paramsFromSearch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveList(w, r, []*schema.ResourceType{rt}, p)
}

// rootSearch handles POST /.search over every served resource type.
func (s *Server) rootSearch(w http.ResponseWriter, r *http.Request) {
	p, err := paramsFromSearch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveList(w, r, s.reg.ResourceTypes(), p)
}

// compiledQuery is one resource type's share of a list request.
type compiledQuery struct {
	rt   *schema.ResourceType
	q    store.Query
	proj *projection
	err  *error // first Match error, reported after List
	// sortErr is why this type cannot sort by sortBy when acrossTypes let
	// it through; the root search fails with it if no type can.
	sortErr error
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, rts []*schema.ResourceType, p listParams) {
	var expr filter.Expr
	if strings.TrimSpace(p.filter) != "" {
		var err error
		if expr, err = filter.Parse(p.filter); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ctx := r.Context()
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: p.startIndex, Resources: []any{}}
	base := s.baseURL(r)

	if len(rts) == 1 {
		cq, err := s.compile(rts[0], expr, p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cq.q.StartIndex, cq.q.Count = p.startIndex, p.count
		page, err := s.runQuery(ctx, cq, cq.q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.appendPage(ctx, &resp, cq, page.Resources, base); err != nil {
			s.writeError(w, r, err)
			return
		}
		resp.TotalResults = page.Total
		resp.ItemsPerPage = len(resp.Resources)
		s.writeList(w, r, resp)
		return
	}

	s.serveRootSearch(w, r, rts, expr, p, resp)
}

// serveRootSearch answers POST /.search across resource types (RFC 7644
// §3.4.3). Results are the types' matches one after the other (creation
// order within each) or, with sortBy, merged in order. Each type is asked
// only for the part of its matches the page can hold, so memory follows
// startIndex+count, not the size of the tenant.
func (s *Server) serveRootSearch(w http.ResponseWriter, r *http.Request, rts []*schema.ResourceType, expr filter.Expr, p listParams, resp listResponse) {
	ctx := r.Context()
	type hit struct {
		cq  *compiledQuery
		res *store.Resource
		key any // the sort key, with sortBy
	}
	var (
		hits  []hit
		order *store.Order
		skip  = p.startIndex - 1 // matches before the page, when unsorted
		cqs   []*compiledQuery
	)
	p.acrossTypes = len(rts) > 1
	for _, rt := range rts {
		cq, err := s.compile(rt, expr, p)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cqs = append(cqs, cq)
	}
	if p.sortBy != "" && !slices.ContainsFunc(cqs, func(cq *compiledQuery) bool { return cq.sortErr == nil }) {
		s.writeError(w, r, cqs[0].sortErr) // no type has the attribute
		return
	}
	for _, cq := range cqs {
		order = cq.q.Order
		page, err := s.rootPart(ctx, cq, p, skip)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp.TotalResults += page.Total
		skip = max(skip-page.Total, 0)
		for _, res := range page.Resources {
			h := hit{cq: cq, res: res}
			if order != nil {
				h.key = order.Key(res)
			}
			hits = append(hits, h)
		}
	}
	if order != nil {
		sort.SliceStable(hits, func(i, j int) bool {
			return rootLess(order, hits[i].key, hits[j].key, hits[i].res, hits[j].res)
		})
		hits = hits[min(p.startIndex-1, len(hits)):]
	}
	hits = hits[:min(p.count, len(hits))]

	// One groups query per type for the whole page, then render in order.
	byType := map[*compiledQuery][]*store.Resource{}
	for _, h := range hits {
		byType[h.cq] = append(byType[h.cq], h.res)
	}
	groups := map[*compiledQuery]map[string][]store.GroupRef{}
	for cq, res := range byType {
		g, err := s.groupsFor(ctx, cq.rt, cq.proj, res...)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		groups[cq] = g
	}
	base := s.baseURL(r)
	for _, h := range hits {
		out, err := s.renderListed(h.cq, h.res, base, groups[h.cq])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp.Resources = append(resp.Resources, out)
	}
	resp.ItemsPerPage = len(resp.Resources)
	s.writeList(w, r, resp)
}

// rootPart lists one type's share of a root search: its number of matches
// and the matches the page may need. Sorted, those are its first
// startIndex-1+count (the merged page can only come from them); unsorted,
// the ones left after skipping the matches of the types before it.
func (s *Server) rootPart(ctx context.Context, cq *compiledQuery, p listParams, skip int) (*store.Page, error) {
	q := cq.q
	switch {
	case p.count == 0:
		q.Count = 0 // totals only
	case q.Order != nil:
		q.StartIndex, q.Count = 1, p.startIndex-1+p.count
	default:
		q.StartIndex, q.Count = skip+1, p.count
	}
	return s.runQuery(ctx, cq, q)
}

// runQuery runs q (cq's query with its window set) and reports the first
// error the filter met while matching, as the request's error.
func (s *Server) runQuery(ctx context.Context, cq *compiledQuery, q store.Query) (*store.Page, error) {
	page, err := s.store.List(ctx, kindOf(cq.rt), q)
	if err == nil && *cq.err != nil {
		err = *cq.err
	}
	if err != nil {
		return nil, s.storeErr("list", cq.rt, "", err)
	}
	return page, nil
}

// appendPage renders one type's page, with one groups query for it.
func (s *Server) appendPage(ctx context.Context, resp *listResponse, cq *compiledQuery, res []*store.Resource, base string) error {
	groups, err := s.groupsFor(ctx, cq.rt, cq.proj, res...)
	if err != nil {
		return err
	}
	for _, x := range res {
		out, err := s.renderListed(cq, x, base, groups)
		if err != nil {
			return err
		}
		resp.Resources = append(resp.Resources, out)
	}
	return nil
}

// renderListed renders one listed resource: members as [] when loaded but
// empty, and not at all when the projection leaves them out.
func (s *Server) renderListed(cq *compiledQuery, x *store.Resource, base string, groups map[string][]store.GroupRef) (any, error) {
	if cq.q.Members && x.Members == nil {
		x.Members = []store.Member{}
	}
	if !cq.wantMembers() {
		x.Members = nil
	}
	v := view{base: base, proj: cq.proj, groups: groups}
	if b, ok := s.renderRaw(cq.rt, x, v); ok {
		return json.RawMessage(b[:len(b)-1]), nil
	}
	if err := decodeDoc(x); err != nil {
		return nil, err
	}
	return s.render(cq.rt, x, v), nil
}

func (cq *compiledQuery) wantMembers() bool {
	return cq.rt.Name == "Group" && cq.proj.wants(cq.rt, "", "members")
}

// pushDown are the attributes the store indexes (store.Lookup).
var pushDown = map[string]bool{"id": true, "userName": true, "externalId": true, "displayName": true}

// compile turns the filter and sort of a list request into a store.Query
// for one resource type.
func (s *Server) compile(rt *schema.ResourceType, expr filter.Expr, p listParams) (*compiledQuery, error) {
	var matchErr error
	cq := &compiledQuery{rt: rt, proj: parseProjection(rt, p.attributes, p.exclAt), err: &matchErr}
	withMembers := cq.wantMembers()
	exact := false // the Lookup alone decides the matches
	if expr != nil {
		// Validate once, so a bad filter is a 400 whatever the data.
		if err := filter.Validate(rt, expr); err != nil {
			return nil, err
		}
		filterMembers := rt.Name == "Group" && strings.Contains(strings.ToLower(p.filter), "members")
		withMembers = withMembers || filterMembers
		cq.q.MatchMembers = filterMembers
		if attr, value, ok := filter.Eq(expr); ok {
			if ext, a, sub, err := rt.Lookup(rt.SplitPath(attr)); err == nil && ext == "" && sub == nil && pushDown[a.Name] {
				if a.Name != "userName" || rt.Name == "User" {
					cq.q.Lookup = &store.Lookup{Attr: a.Name, Value: value}
				}
				// Entra's match query: the folded index answers exactly what
				// a lone `userName eq` (or a group's `displayName eq`) asks
				// (store.Fold equals where strings.EqualFold does), so the
				// candidates need not be decoded and matched again.
				_, lone := expr.(*filter.Compare)
				exact = lone && value != "" && !a.CaseExact &&
					((rt.Name == "User" && a.Name == "userName") || (rt.Name == "Group" && a.Name == "displayName"))
			}
		}
		cq.q.Text = textNeed(rt, expr)
		cq.q.Match = func(res *store.Resource) bool {
			if matchErr != nil {
				return false
			}
			ok, err := filter.Match(rt, expr, matchDoc(rt, res, filterMembers))
			if err != nil {
				if e, isSCIM := scimerr.As(err); isSCIM && e.ScimType == scimerr.InvalidPath {
					// An attribute this type does not have matches nothing:
					// Entra must get an empty list, never an error (§6 #8).
					return false
				}
				matchErr = err
				return false
			}
			return ok
		}
	}
	if exact {
		cq.q.Match, cq.q.Text = nil, nil
	}
	cq.q.Members = withMembers
	if p.sortBy != "" {
		order, err := sortOrder(rt, p.sortBy, p.sortOrder)
		if err != nil && !(p.acrossTypes && order != nil) {
			return nil, err
		}
		cq.q.Order, cq.sortErr = order, err
	}
	// Rendered from the stored bytes (renderRaw); Order.Key needs Doc.
	cq.q.RawOnly = cq.proj == nil && cq.q.Order == nil
	return cq, nil
}

// matchDoc is the document a filter is evaluated against: the stored one
// plus id, meta and (when the filter names them) members.
func matchDoc(rt *schema.ResourceType, res *store.Resource, members bool) map[string]any {
	doc := make(map[string]any, len(res.Doc)+3)
	for k, v := range res.Doc {
		doc[k] = v
	}
	doc["id"] = res.ID
	doc["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      formatTime(res.Created),
		"lastModified": formatTime(res.LastModified),
		"version":      etag(res.Version),
	}
	if members {
		ms := make([]any, 0, len(res.Members))
		for _, m := range res.Members {
			e := map[string]any{"value": m.Value}
			if m.Display != "" {
				e["display"] = m.Display
			}
			if m.Type != "" {
				e["type"] = m.Type
			}
			ms = append(ms, e)
		}
		doc["members"] = ms
	}
	return doc
}
