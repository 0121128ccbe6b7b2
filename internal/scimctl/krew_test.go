package scimctl

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/scim-operator/scim-operator/test/testenv"
)

// TestKrewManifest checks hack/krew/scim.yaml names the plugin and the
// binary that kubectl runs for "kubectl scim", for every platform.
func TestKrewManifest(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "hack", "krew", "scim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name string }
		Spec       struct {
			Version, Homepage, ShortDescription, Description, Caveats string
			Platforms                                                 []struct {
				Selector struct{ MatchLabels map[string]string } `json:"selector"`
				URI      string                                  `json:"uri"`
				SHA256   string                                  `json:"sha256"`
				Bin      string                                  `json:"bin"`
			}
		}
	}
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "scim" ||
		!regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(m.Spec.Version) || m.Spec.ShortDescription == "" {
		t.Fatalf("manifest header: %+v", m)
	}
	if len(m.Spec.Platforms) < 4 {
		t.Fatalf("want linux and darwin on amd64 and arm64 at least, got %d platforms", len(m.Spec.Platforms))
	}
	for _, p := range m.Spec.Platforms {
		goos, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		wantBin := "kubectl-scim"
		if goos == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin || !strings.Contains(p.URI, "/"+m.Spec.Version+"/") || !strings.Contains(p.URI, "_"+goos+"_"+arch+".") ||
			!regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p.SHA256) {
			t.Errorf("platform %s/%s: %+v", goos, arch, p)
		}
	}
}
