package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// timeFormat renders meta dateTimes: RFC 3339 in UTC, sub-second digits
// only when there are some.
const timeFormat = "2006-01-02T15:04:05.999999999Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// etag is the weak entity tag of a resource version, also meta.version.
func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// baseURL is the SCIM base URL used in meta.location, Location and $ref:
// the configured external URL, else what the request says about itself
// (Host, and X-Forwarded-Proto set by the ingress that terminates TLS).
func (s *Server) baseURL(r *http.Request) string {
	if s.extBase != "" {
		return s.extBase
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		p = strings.ToLower(strings.TrimSpace(strings.Split(p, ",")[0]))
		if p == "http" || p == "https" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host + s.basePath
}

func location(base string, rt *schema.ResourceType, id string) string {
	return base + rt.Endpoint + "/" + id
}

// view is what one rendering needs besides the resource.
type view struct {
	base   string
	proj   *projection
	groups map[string][]store.GroupRef // users' groups, by user id; nil when not served/wanted
}

// render turns a stored resource into its SCIM representation: the document
// plus the computed schemas, id, meta, members/groups and manager $ref,
// then projected per attributes/excludedAttributes.
func (s *Server) render(rt *schema.ResourceType, res *store.Resource, v view) map[string]any {
	out := make(map[string]any, len(res.Doc)+4)
	for k, val := range res.Doc {
		out[k] = val
	}
	schemas := []any{rt.Schema.ID}
	for _, e := range rt.Extensions {
		cp := s.renderExtension(rt, e.Schema.ID, res.Doc[e.Schema.ID], v.base)
		if cp == nil {
			delete(out, e.Schema.ID)
			continue
		}
		schemas = append(schemas, e.Schema.ID)
		out[e.Schema.ID] = cp
	}
	dropNever(rt.Schema.Attributes, out)
	out["schemas"] = schemas
	out["id"] = res.ID
	if res.Kind == store.Group && res.Members != nil {
		members := make([]any, 0, len(res.Members))
		for _, m := range res.Members {
			members = append(members, s.renderMember(v.base, m))
		}
		out["members"] = members
	}
	if res.Kind == store.User && v.groups != nil {
		if refs := v.groups[res.ID]; len(refs) > 0 {
			groups := make([]any, 0, len(refs))
			for _, g := range refs {
				groups = append(groups, map[string]any{
					"value": g.ID, "display": g.DisplayName,
					"$ref": v.base + "/Groups/" + g.ID, "type": "direct",
				})
			}
			out["groups"] = groups
		}
	}
	out["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      formatTime(res.Created),
		"lastModified": formatTime(res.LastModified),
		"location":     location(v.base, rt, res.ID),
		"version":      etag(res.Version),
	}
	if v.proj != nil {
		v.proj.apply(rt, out)
	}
	return out
}

// renderExtension is the rendered copy of val, the document's extension
// object urn, or nil when it is no object or an empty one.
func (s *Server) renderExtension(rt *schema.ResourceType, urn string, val any, base string) map[string]any {
	var ext *schema.Schema
	for _, e := range rt.Extensions {
		if e.Schema.ID == urn {
			ext = e.Schema
		}
	}
	m, ok := val.(map[string]any)
	if ext == nil || !ok || len(m) == 0 {
		return nil
	}
	cp := make(map[string]any, len(m))
	for k, val := range m {
		cp[k] = val
	}
	// The manager is stored as {"value": id}; Entra needs the complex
	// form back, and $ref points at the manager's resource.
	if mgr, ok := cp["manager"].(map[string]any); ok {
		if id, ok := mgr["value"].(string); ok && id != "" {
			nm := map[string]any{"value": id, "$ref": base + "/Users/" + id}
			if dn, ok := mgr["displayName"]; ok {
				nm["displayName"] = dn
			}
			cp["manager"] = nm
		}
	}
	dropNever(ext.Attributes, cp)
	return cp
}

// decodeDoc fills res.Doc from res.Raw when the store left it undecoded
// (store.RawReader, Query.RawOnly) and render needs it after all.
func decodeDoc(res *store.Resource) error {
	if res.Doc != nil || res.Raw == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(res.Raw))
	d.UseNumber() // as the store decodes
	return d.Decode(&res.Doc)
}

// memberRef is the $ref of a group member.
func memberRef(base string, m store.Member) string {
	if strings.EqualFold(m.Type, "Group") {
		return base + "/Groups/" + m.Value
	}
	return base + "/Users/" + m.Value
}

func (s *Server) renderMember(base string, m store.Member) map[string]any {
	out := map[string]any{"value": m.Value}
	if m.Display != "" {
		out["display"] = m.Display
	}
	if m.Type != "" {
		out["type"] = m.Type
	}
	out["$ref"] = memberRef(base, m)
	return out
}

// dropNever removes attributes that are never returned (password).
func dropNever(attrs []*schema.Attribute, m map[string]any) {
	for _, a := range attrs {
		if a.Returned == schema.ReturnedNever {
			delete(m, a.Name)
		}
	}
}

// groupsFor loads the groups of the given users in one store call, when
// groups are served and the client will see them.
func (s *Server) groupsFor(ctx context.Context, rt *schema.ResourceType, proj *projection, res ...*store.Resource) (map[string][]store.GroupRef, error) {
	if rt.Name != "User" || s.reg.ResourceType("Group") == nil || !proj.wants(rt, "", "groups") || len(res) == 0 {
		return nil, nil
	}
	// Only users whose groups the store did not return with them.
	known := map[string][]store.GroupRef{}
	ids := make([]string, 0, len(res))
	for _, r := range res {
		if r.Groups == nil {
			ids = append(ids, r.ID)
		} else if len(r.Groups) > 0 {
			known[r.ID] = r.Groups
		}
	}
	if len(ids) == 0 {
		return known, nil
	}
	g, err := s.store.GroupsOf(ctx, ids)
	if err != nil {
		s.metrics.storeErrors.WithLabelValues("groupsOf").Inc()
		return nil, err
	}
	for id, refs := range g {
		known[id] = refs
	}
	return known, nil
}
