package controllers

import (
	"encoding/json"
	"testing"

	scimv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/scimserver/config"
)

// spec.schema.unknownAttributes reaches tenant.json; Ignore (the default)
// is left out, so tenants that never set it keep their config, and hash.
func TestServerConfigUnknownAttributes(t *testing.T) {
	cases := []struct {
		name   string
		schema *scimv1alpha1.SchemaSpec
		want   string
	}{
		{"no schema", nil, ""},
		{"default", &scimv1alpha1.SchemaSpec{}, ""},
		{"ignore", &scimv1alpha1.SchemaSpec{UnknownAttributes: scimv1alpha1.UnknownAttributesIgnore}, ""},
		{"reject", &scimv1alpha1.SchemaSpec{UnknownAttributes: scimv1alpha1.UnknownAttributesReject}, config.UnknownReject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := &scimv1alpha1.ScimTenant{}
			tenant.Name, tenant.Namespace = "acme", "ns"
			tenant.Spec.Schema = tc.schema
			raw, err := json.Marshal(serverConfig(tenant))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(raw)
			if err != nil {
				t.Fatalf("the server would refuse %s: %v", raw, err)
			}
			if cfg.UnknownAttributes != tc.want || cfg.RejectsUnknown() != (tc.want == config.UnknownReject) {
				t.Fatalf("unknownAttributes %q, want %q (%s)", cfg.UnknownAttributes, tc.want, raw)
			}
		})
	}
}
