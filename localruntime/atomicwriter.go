package localruntime

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File is one file of a projected volume.
type File struct {
	Data []byte
	Mode fs.FileMode
}

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// WriteAtomic brings dir to hold exactly payload (relative paths), the way the
// kubelet updates ConfigMap and Secret volumes: files go to a fresh
// "..<timestamp>" directory, the "..data" symlink is swapped to it with one
// rename(2), and each top-level entry is a symlink through "..data". A reader
// that resolves a path once sees either the old or the new payload, never a
// mix. It reports whether anything changed.
func WriteAtomic(dir string, payload map[string]File) (bool, error) {
	for p := range payload {
		if err := validRelPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if oldTS != "" && samePayload(filepath.Join(dir, oldTS), payload) {
		return false, nil
	}

	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		// The owner must read what it wrote, whatever defaultMode says: the
		// process runs as this user, not as the pod's fsGroup.
		if err := os.WriteFile(full, f.Data, mode|0o400); err != nil {
			return false, err
		}
		if err := os.Chmod(full, mode|0o400); err != nil {
			return false, err
		}
	}

	// The swap: a new symlink renamed over the old one is atomic.
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return false, err
	}

	// Top-level links: add the new ones, then drop those no longer projected.
	want := map[string]bool{}
	for p := range payload {
		want[strings.SplitN(filepath.ToSlash(p), "/", 2)[0]] = true
	}
	for top := range want {
		link := filepath.Join(dir, top)
		target := filepath.Join(dataDirName, top)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return false, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || want[name] {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	// Older generations go. Unlike the kubelet, the one just replaced stays
	// until the next update: a reader that resolved ..data an instant before
	// the swap can still open its files, instead of getting ENOENT.
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && strings.HasPrefix(name, "..") && name != oldTS && name != filepath.Base(tsDir) {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// validRelPath refuses paths that would escape the volume or collide with
// the writer's own "..*" entries, as the kubelet does.
func validRelPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid volume path %q", p)
	}
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, "..") {
			return fmt.Errorf("invalid volume path %q", p)
		}
	}
	return nil
}

// samePayload reports whether dir holds exactly payload, modes included.
func samePayload(dir string, payload map[string]File) bool {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		f, ok := payload[rel]
		if !ok {
			return fs.ErrExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if info.Mode().Perm() != (mode | 0o400).Perm() {
			return fs.ErrExist
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, f.Data) {
			return fs.ErrExist
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}
