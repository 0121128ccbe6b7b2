package server

import (
	"strings"

	"github.com/scim-operator/scim-operator/scimserver/schema"
)

// selector names one attribute (or sub-attribute) canonically.
type selector struct {
	ext, attr, sub string // ext "" = core
}

// projection is attributes / excludedAttributes (RFC 7644 §3.4.2.5). A nil
// projection returns everything by default.
type projection struct {
	include []selector // non-empty: only these (plus always-returned ones)
	exclude []selector
}

// parseProjection resolves attribute lists. Unknown names are ignored: a
// client asking to exclude something we don't have gets what it wants.
func parseProjection(rt *schema.ResourceType, attributes, excluded []string) *projection {
	p := &projection{}
	p.include = selectors(rt, attributes)
	if len(p.include) == 0 {
		p.exclude = selectors(rt, excluded)
	}
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return nil
	}
	return p
}

func selectors(rt *schema.ResourceType, paths []string) []selector {
	var out []selector
	for _, raw := range paths {
		for _, path := range strings.Split(raw, ",") {
			path = strings.TrimSpace(path)
			if path == "" {
				continue
			}
			if ext := rt.Extension(path); ext != nil {
				out = append(out, selector{ext: ext.ID})
				continue
			}
			ext, a, sub, err := rt.Lookup(rt.SplitPath(path))
			if err != nil {
				continue
			}
			sel := selector{ext: ext, attr: a.Name}
			if sub != nil {
				sel.sub = sub.Name
			}
			out = append(out, sel)
		}
	}
	return out
}

// wants reports whether the named top-level attribute will be returned; it
// lets handlers skip loading members or groups nobody will see.
func (p *projection) wants(rt *schema.ResourceType, ext, attr string) bool {
	if p == nil {
		return true
	}
	if len(p.include) > 0 {
		for _, s := range p.include {
			if s.ext == ext && (s.attr == attr || s.attr == "") {
				return true
			}
		}
		return false
	}
	for _, s := range p.exclude {
		if s.ext == ext && s.attr == attr && s.sub == "" {
			return false
		}
	}
	return true
}

// alwaysReturned are kept whatever the client asks: id, schemas and
// meta.resourceType (RFC 7643 §7 "returned": "always").
func alwaysReturned(key string) bool { return key == "id" || key == "schemas" }

func (p *projection) apply(rt *schema.ResourceType, out map[string]any) {
	if len(p.include) > 0 {
		p.applyInclude(rt, out)
	} else {
		p.applyExclude(out)
	}
	// meta.resourceType survives any projection.
	meta, _ := out["meta"].(map[string]any)
	if meta == nil {
		out["meta"] = map[string]any{"resourceType": rt.Name}
	} else if _, ok := meta["resourceType"]; !ok {
		meta["resourceType"] = rt.Name
	}
	// Keep the schemas list honest about which extensions remain.
	if ids, ok := out["schemas"].([]any); ok {
		kept := ids[:0:0]
		for _, id := range ids {
			if sid, _ := id.(string); sid == rt.Schema.ID || out[sid] != nil {
				kept = append(kept, id)
			}
		}
		out["schemas"] = kept
	}
}

func (p *projection) applyInclude(rt *schema.ResourceType, out map[string]any) {
	keep := map[string]map[string][]string{} // ext -> attr -> subs (nil = whole)
	for _, s := range p.include {
		attrs := keep[s.ext]
		if attrs == nil {
			attrs = map[string][]string{}
			keep[s.ext] = attrs
		}
		if s.attr == "" {
			attrs["*"] = nil
			continue
		}
		subs, seen := attrs[s.attr]
		switch {
		case s.sub == "":
			attrs[s.attr] = nil
		case !seen || subs != nil:
			attrs[s.attr] = append(subs, s.sub)
		}
	}
	exts := map[string]bool{}
	for _, e := range rt.Extensions {
		exts[e.Schema.ID] = true
	}
	for k, v := range out {
		if alwaysReturned(k) {
			continue
		}
		if exts[k] {
			m, _ := v.(map[string]any)
			attrs, ok := keep[k]
			if !ok || m == nil {
				delete(out, k)
				continue
			}
			if _, all := attrs["*"]; all {
				continue
			}
			filterKeys(m, attrs)
			if len(m) == 0 {
				delete(out, k)
			}
			continue
		}
		subs, ok := keep[""][k]
		if !ok {
			if k == "meta" {
				out[k] = map[string]any{"resourceType": rt.Name}
				continue
			}
			delete(out, k)
			continue
		}
		if subs != nil {
			out[k] = keepSubs(v, subs)
		}
	}
}

func filterKeys(m map[string]any, attrs map[string][]string) {
	for k, v := range m {
		subs, ok := attrs[k]
		if !ok {
			delete(m, k)
			continue
		}
		if subs != nil {
			m[k] = keepSubs(v, subs)
		}
	}
}

// keepSubs keeps only the named sub-attributes of a complex value (or of
// each element of a multi-valued one).
func keepSubs(v any, subs []string) any {
	pick := func(m map[string]any) map[string]any {
		o := map[string]any{}
		for _, s := range subs {
			if x, ok := m[s]; ok {
				o[s] = x
			}
		}
		return o
	}
	switch t := v.(type) {
	case map[string]any:
		return pick(t)
	case []any:
		o := make([]any, 0, len(t))
		for _, e := range t {
			if m, ok := e.(map[string]any); ok {
				o = append(o, pick(m))
			}
		}
		return o
	}
	return v
}

func (p *projection) applyExclude(out map[string]any) {
	for _, s := range p.exclude {
		target := out
		if s.ext != "" {
			m, _ := out[s.ext].(map[string]any)
			if m == nil {
				continue
			}
			if s.attr == "" {
				delete(out, s.ext)
				continue
			}
			target = m
		}
		if alwaysReturned(s.attr) && s.ext == "" {
			continue
		}
		if s.sub == "" {
			delete(target, s.attr)
		} else {
			switch t := target[s.attr].(type) {
			case map[string]any:
				if !(s.ext == "" && s.attr == "meta" && s.sub == "resourceType") {
					delete(t, s.sub)
				}
			case []any:
				for _, e := range t {
					if m, ok := e.(map[string]any); ok {
						delete(m, s.sub)
					}
				}
			}
		}
		if s.ext != "" && len(target) == 0 {
			delete(out, s.ext)
		}
	}
}
