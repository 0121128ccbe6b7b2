package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/patch"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

func kindOf(rt *schema.ResourceType) store.Kind { return store.Kind(rt.Name) }

func notFound(rt *schema.ResourceType, id string) error {
	return scimerr.NotFound("%s %q not found", rt.Name, id)
}

// storeErr maps store errors: not found names the resource; anything that is
// neither a client error nor a timeout is counted as a store failure.
func (s *Server) storeErr(op string, rt *schema.ResourceType, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(rt, id)
	}
	if _, ok := scimerr.As(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	s.metrics.storeErrors.WithLabelValues(op).Inc()
	return err
}

func projectionFrom(r *http.Request, rt *schema.ResourceType) *projection {
	q := r.URL.Query()
	return parseProjection(rt, q["attributes"], q["excludedAttributes"])
}

// respond renders one resource with its ETag, loading a user's groups when
// the client will see them.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, res *store.Resource, status int, proj *projection) {
	groups, err := s.groupsFor(r.Context(), rt, proj, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResource(w, r, rt, res, status, proj, groups)
}

// writeResource renders one resource with its ETag (and Location on create).
func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, res *store.Resource, status int, proj *projection, groups map[string][]store.GroupRef) {
	base := s.baseURL(r)
	v := view{base: base, proj: proj, groups: groups}
	w.Header().Set("ETag", etag(res.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", location(base, rt, res.ID))
	}
	if b, ok := s.renderRaw(rt, res, v); ok {
		writeEncoded(w, status, b)
		return
	}
	if err := decodeDoc(res); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, s.render(rt, res, v))
}

// resourceBody is a POST or PUT body, read, normalised and checked.
type resourceBody struct {
	doc        map[string]any
	members    []store.Member    // groups
	hasMembers bool              // the body carries "members" (groups)
	unknown    *unknownCollector // attributes dropped; counted once written
	password   bool              // the body carried a password, not stored
}

// readResource reads the resource a POST or PUT sends.
func (s *Server) readResource(r *http.Request, rt *schema.ResourceType) (*resourceBody, error) {
	body, err := readObject(r)
	if err != nil {
		return nil, err
	}
	unknown := s.unknownFor(rt)
	doc, err := rt.NormalizeReporting(body, unknown.report)
	if err != nil {
		return nil, err
	}
	b := &resourceBody{doc: doc, unknown: unknown, password: rt.Discard(doc)}
	if rt.Name == "Group" {
		if b.members, b.hasMembers, err = membersFromBody(body); err != nil {
			return nil, err
		}
	}
	if err := s.checkRequired(rt, doc); err != nil {
		return nil, err
	}
	return b, nil
}

// create handles POST /Users and POST /Groups.
func (s *Server) create(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType) {
	b, err := s.readResource(r, rt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := &store.Resource{Kind: kindOf(rt), ID: s.newID(), Doc: b.doc, Members: b.members}
	if err := s.store.Create(r.Context(), res); err != nil {
		s.writeError(w, r, s.storeErr("create", rt, res.ID, err))
		return
	}
	if res.Kind == store.Group && res.Members == nil {
		res.Members = []store.Member{}
	}
	s.audit(r, "create", rt, res.ID)
	b.unknown.done()
	s.password.done(rt, b.password)
	// A user that did not exist a moment ago is in no group: skip the
	// GroupsOf query (a third of a create's cost at Entra's sync rate).
	s.writeResource(w, r, rt, res, http.StatusCreated, projectionFrom(r, rt), nil)
}

// get handles GET /Users/{id} and GET /Groups/{id}.
func (s *Server) get(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, id string) {
	proj := projectionFrom(r, rt)
	withMembers := rt.Name == "Group" && proj.wants(rt, "", "members")
	var res *store.Resource
	var err error
	if rr, ok := s.store.(store.RawReader); ok && proj == nil && !withMembers {
		// Answered from the stored bytes (renderRaw): no decoding.
		res, err = rr.GetRaw(r.Context(), kindOf(rt), id)
	} else {
		res, err = s.store.Get(r.Context(), kindOf(rt), id, withMembers)
	}
	if err != nil {
		s.writeError(w, r, s.storeErr("get", rt, id, err))
		return
	}
	if withMembers && res.Members == nil {
		res.Members = []store.Member{}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, res.Version) {
		w.Header().Set("ETag", etag(res.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.respond(w, r, rt, res, http.StatusOK, proj)
}

// replace handles PUT: the body replaces the document; members, when the
// body carries them, replace the membership.
func (s *Server) replace(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, id string) {
	b, err := s.readResource(r, rt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A PUT without "members" keeps the membership: clearing a
	// 100,000-member group because a client renamed it is never wanted.
	var ops []store.MemberOp
	if b.hasMembers {
		ops = []store.MemberOp{{Kind: store.MemberClear}}
		if len(b.members) > 0 {
			ops = append(ops, store.MemberOp{Kind: store.MemberAdd, Members: b.members})
		}
	}
	ifMatch := r.Header.Get("If-Match")
	res, err := s.store.Update(r.Context(), kindOf(rt), id, func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
		if err := checkIfMatch(ifMatch, cur.Version); err != nil {
			return nil, nil, err
		}
		return b.doc, ops, nil
	})
	if err != nil {
		s.writeError(w, r, s.storeErr("update", rt, id, err))
		return
	}
	s.audit(r, "replace", rt, id)
	b.unknown.done()
	s.password.done(rt, b.password)
	s.respondAfterWrite(w, r, rt, res)
}

// respondAfterWrite renders a resource after PUT; groups are re-read with
// their members, since Update returns none.
func (s *Server) respondAfterWrite(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, res *store.Resource) {
	proj := projectionFrom(r, rt)
	if rt.Name == "Group" && proj.wants(rt, "", "members") {
		full, err := s.store.Get(r.Context(), kindOf(rt), res.ID, true)
		if err != nil {
			s.writeError(w, r, s.storeErr("get", rt, res.ID, err))
			return
		}
		if full.Members == nil {
			full.Members = []store.Member{}
		}
		res = full
	}
	s.respond(w, r, rt, res, http.StatusOK, proj)
}

// patch handles PATCH: parse, then apply inside the store transaction so
// concurrent PATCHes serialise and a failing one writes nothing. Users get
// 200 with the resource, groups 204 (Entra's preference: no member list).
func (s *Server) patch(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, id string) {
	raw, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ops, err := patch.ParseRequest(raw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ifMatch := r.Header.Get("If-Match")
	unknown := s.unknownFor(rt)
	password := false
	res, err := s.store.Update(r.Context(), kindOf(rt), id, func(cur *store.Resource) (map[string]any, []store.MemberOp, error) {
		if err := checkIfMatch(ifMatch, cur.Version); err != nil {
			return nil, nil, err
		}
		unknown.reset()
		out, err := patch.ApplyReporting(rt, cur.Doc, ops, unknown.report)
		if err != nil {
			return nil, nil, err
		}
		// On the result, not the operations: a password set with or
		// without a path, or stored before passwords were discarded.
		password = rt.Discard(out.Doc)
		if err := rt.CheckRequired(out.Doc); err != nil {
			return nil, nil, err
		}
		if err := s.checkRequired(rt, out.Doc); err != nil {
			return nil, nil, err
		}
		return out.Doc, out.Members, nil
	})
	if err != nil {
		s.writeError(w, r, s.storeErr("update", rt, id, err))
		return
	}
	s.audit(r, "patch", rt, id)
	unknown.done()
	s.password.done(rt, password)
	if rt.Name == "Group" {
		w.Header().Set("ETag", etag(res.Version))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.respond(w, r, rt, res, http.StatusOK, projectionFrom(r, rt))
}

// delete handles DELETE; a second DELETE of the same id is a 404.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, id string) {
	if im := r.Header.Get("If-Match"); im != "" {
		cur, err := s.store.Get(r.Context(), kindOf(rt), id, false)
		if err != nil {
			s.writeError(w, r, s.storeErr("get", rt, id, err))
			return
		}
		if err := checkIfMatch(im, cur.Version); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.store.Delete(r.Context(), kindOf(rt), id); err != nil {
		s.writeError(w, r, s.storeErr("delete", rt, id, err))
		return
	}
	s.audit(r, "delete", rt, id)
	w.WriteHeader(http.StatusNoContent)
}

// audit writes one line per successful change.
func (s *Server) audit(r *http.Request, action string, rt *schema.ResourceType, id string) {
	ri := infoFrom(r.Context())
	actor := "unknown"
	if ri.token != nil {
		actor = ri.token.Name + "/" + ri.token.Fingerprint()
	}
	s.metrics.audit.WithLabelValues(rt.Name, action).Inc()
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "Audit", slog.Bool("audit", true), slog.String("requestID", ri.id),
		slog.String("actor", actor), slog.String("action", action), slog.String("resourceType", rt.Name), slog.String("id", id))
}

// membersFromBody reads a Group body's members (POST/PUT), which the
// document never holds. present reports whether the body had the key.
func membersFromBody(body map[string]any) (members []store.Member, present bool, err error) {
	var raw any
	for k, v := range body {
		if strings.EqualFold(k, "members") {
			raw, present = v, true
		}
	}
	if raw == nil {
		return nil, present, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, true, scimerr.BadRequest(scimerr.InvalidValue, `"members" must be an array of {"value": id}`)
	}
	seen := map[string]bool{}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, true, scimerr.BadRequest(scimerr.InvalidValue, `each member must be an object {"value": id}`)
		}
		var mem store.Member
		for k, v := range m {
			sv, _ := v.(string)
			switch strings.ToLower(k) {
			case "value":
				mem.Value = sv
			case "display":
				mem.Display = sv
			case "type":
				mem.Type = sv
			}
		}
		if mem.Value == "" {
			return nil, true, scimerr.BadRequest(scimerr.InvalidValue, `each member needs a non-empty string "value" (the member's id)`)
		}
		if !seen[mem.Value] {
			seen[mem.Value] = true
			members = append(members, mem)
		}
	}
	return members, true, nil
}
