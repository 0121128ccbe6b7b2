package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// newHandler is the peer's whole HTTP surface: /readyz, and the library's
// server under /scim/v2 behind a bearer check like ours.
func newHandler(tokenHash [32]byte) (http.Handler, error) {
	users := &memory{unique: "userName", byKey: map[string]string{}}
	groups := &memory{noContentPatch: true}
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{},
		ResourceTypes: []scim.ResourceType{
			{
				ID:               optional.NewString("User"),
				Name:             "User",
				Endpoint:         "/Users",
				Description:      optional.NewString("User Account"),
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          users,
			},
			{
				ID:          optional.NewString("Group"),
				Name:        "Group",
				Endpoint:    "/Groups",
				Description: optional.NewString("Group"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     groups,
			},
		},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
	// The library serves paths under /v2; the prefix is stripped as its
	// ExampleNewServer_basePath shows.
	scimHandler := http.StripPrefix("/scim", srv)
	mux.HandleFunc("/scim/", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], tokenHash[:]) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		scimHandler.ServeHTTP(w, r)
	})
	return mux, nil
}

// entry is one stored resource. Its attributes are never changed once
// stored: the library marshals what a handler returns after the handler
// has returned (outside any lock of ours), so a PATCH stores a new map
// instead of writing into one a concurrent GET may be encoding.
type entry struct {
	attrs scim.ResourceAttributes
	meta  scim.Meta
}

// memory is the library's in-memory example resource handler
// (resource_handler_test.go, server_test.go) made safe for concurrent
// requests, with what a real client needs on top: ids that do not
// collide, a stable page order, and the uniqueness of userName that the
// library leaves to the handler (README, "Addition Checks").
type memory struct {
	mu    sync.RWMutex
	data  map[string]*entry
	order []string // ids in creation order: pages are stable across requests
	seq   int64    // version counter

	// unique names the attribute whose value (case-insensitively, as
	// userName's caseExact is false) must be unique; byKey maps it to the id.
	unique string
	byKey  map[string]string
	// noContentPatch answers a PATCH with 204 and no body, as our server
	// and Entra do for groups: the library would otherwise marshal the
	// whole member list after every member add.
	noContentPatch bool
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func externalID(attrs scim.ResourceAttributes) optional.String {
	if s, ok := attrs["externalId"].(string); ok {
		return optional.NewString(s)
	}
	return optional.String{}
}

func (e *entry) resource(id string) scim.Resource {
	return scim.Resource{ID: id, ExternalID: externalID(e.attrs), Attributes: e.attrs, Meta: e.meta}
}

// key is the value of the unique attribute, "" when there is none.
func (h *memory) key(attrs scim.ResourceAttributes) string {
	if h.unique == "" {
		return ""
	}
	s, _ := attrs[h.unique].(string)
	return strings.ToLower(s)
}

func (h *memory) version() string {
	h.seq++
	return `W/"` + strconv.FormatInt(h.seq, 10) + `"`
}

func (h *memory) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	now := time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.key(attrs)
	if k != "" {
		if _, taken := h.byKey[k]; taken {
			return scim.Resource{}, scimerrors.ScimErrorUniqueness
		}
	}
	if h.data == nil {
		h.data = map[string]*entry{}
	}
	id := newID()
	e := &entry{attrs: attrs, meta: scim.Meta{Created: &now, LastModified: &now, Version: h.version()}}
	h.data[id] = e
	h.order = append(h.order, id)
	if k != "" {
		h.byKey[k] = id
	}
	return e.resource(id), nil
}

func (h *memory) Get(r *http.Request, id string) (scim.Resource, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e, ok := h.data[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return e.resource(id), nil
}

// GetAll filters by scanning every resource with the library's filter
// validator, as its example handler does; without a filter the page is a
// slice of the creation order.
func (h *memory) GetAll(r *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if params.FilterValidator == nil {
		page := scim.Page{TotalResults: len(h.order), Resources: []scim.Resource{}}
		for i := params.StartIndex - 1; i >= 0 && i < len(h.order) && len(page.Resources) < params.Count; i++ {
			page.Resources = append(page.Resources, h.data[h.order[i]].resource(h.order[i]))
		}
		return page, nil
	}
	page := scim.Page{Resources: []scim.Resource{}}
	for _, id := range h.order {
		e := h.data[id]
		if params.FilterValidator.PassesFilter(e.attrs) != nil {
			continue
		}
		page.TotalResults++
		if page.TotalResults >= params.StartIndex && len(page.Resources) < params.Count {
			page.Resources = append(page.Resources, e.resource(id))
		}
	}
	return page, nil
}

func (h *memory) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	now := time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.data[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := h.rekey(id, old.attrs, attrs); err != nil {
		return scim.Resource{}, err
	}
	e := &entry{attrs: attrs, meta: scim.Meta{Created: old.meta.Created, LastModified: &now, Version: h.version()}}
	h.data[id] = e
	return e.resource(id), nil
}

// rekey moves the unique index from old's value to new's; the caller holds
// the write lock.
func (h *memory) rekey(id string, old, new scim.ResourceAttributes) error {
	ko, kn := h.key(old), h.key(new)
	if ko == kn {
		return nil
	}
	if other, taken := h.byKey[kn]; taken && other != id {
		return scimerrors.ScimErrorUniqueness
	}
	delete(h.byKey, ko)
	if kn != "" {
		h.byKey[kn] = id
	}
	return nil
}

func (h *memory) Delete(r *http.Request, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.data[id]
	if !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.data, id)
	delete(h.byKey, h.key(e.attrs))
	for i, o := range h.order {
		if o == id {
			h.order = append(h.order[:i], h.order[i+1:]...)
			break
		}
	}
	return nil
}

// Patch applies the operations the library has validated and parsed, in
// the way its example handler does: a pathless op merges the value's keys,
// "add" to a multi-valued attribute appends, "replace" sets, "remove"
// deletes the attribute or, with a value list, the listed values.
func (h *memory) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	now := time.Now().UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	old, ok := h.data[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := maps.Clone(old.attrs)
	for _, op := range ops {
		if op.Path == nil {
			m, ok := op.Value.(map[string]interface{})
			if !ok {
				return scim.Resource{}, scimerrors.ScimErrorInvalidValue
			}
			for k, v := range m {
				attrs[k] = v
			}
			continue
		}
		if op.Path.ValueExpression != nil || op.Path.SubAttributeName() != "" {
			// Value filters and sub-attribute paths are beyond the six
			// request kinds the comparison sends.
			return scim.Resource{}, scimerrors.ScimErrorInvalidPath
		}
		name := op.Path.AttributePath.AttributeName
		switch op.Op {
		case scim.PatchOperationAdd:
			// Appending may write past the end of the stored slice, which
			// no reader of the old entry looks at (it holds the old length),
			// and writers are serialised by the lock.
			if add, ok := op.Value.([]interface{}); ok {
				old, _ := attrs[name].([]interface{})
				attrs[name] = append(old, add...)
			} else {
				attrs[name] = op.Value
			}
		case scim.PatchOperationReplace:
			attrs[name] = op.Value
		case scim.PatchOperationRemove:
			drop, ok := op.Value.([]interface{})
			if !ok {
				delete(attrs, name)
				break
			}
			old, _ := attrs[name].([]interface{})
			kept := make([]interface{}, 0, len(old))
			for _, v := range old {
				if !containsValue(drop, v) {
					kept = append(kept, v)
				}
			}
			attrs[name] = kept
		}
	}
	if err := h.rekey(id, old.attrs, attrs); err != nil {
		return scim.Resource{}, err
	}
	e := &entry{attrs: attrs, meta: scim.Meta{Created: old.meta.Created, LastModified: &now, Version: h.version()}}
	h.data[id] = e
	if h.noContentPatch {
		return scim.Resource{}, nil
	}
	return e.resource(id), nil
}

// containsValue tells whether a multi-valued attribute's element v has the
// "value" of one of drop's elements.
func containsValue(drop []interface{}, v interface{}) bool {
	m, _ := v.(map[string]interface{})
	for _, d := range drop {
		if dm, ok := d.(map[string]interface{}); ok && m != nil && dm["value"] == m["value"] {
			return true
		}
	}
	return false
}
