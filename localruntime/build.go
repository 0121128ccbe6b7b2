package localruntime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildServer compiles ./cmd/scimserver of the module at root into outDir
// and returns the binary's path. The Go build cache makes repeated builds cheap.
func BuildServer(ctx context.Context, root, outDir string) (string, error) {
	if root == "" {
		root = "."
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(outDir, "scimserver"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/scimserver")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/scimserver: %w\n%s", err, out)
	}
	return bin, nil
}
