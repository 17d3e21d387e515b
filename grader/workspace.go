package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// copyWorkspace copies the course workspace at root into dst, with the Go files of the folder dir in place
// of chapters/slug, and returns the folder they are in. A student's chapter folder, handed in on its own,
// imports the course's given packages (course/chapters/http1, ...): in the copy it builds as the learner's
// own chapter would. The copy holds what a build needs: go.work, every module's go.mod and go.sum, the
// chapters module whole, and the vendor folder if there is one.
func copyWorkspace(root, dir, slug, dst string) (string, error) {
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("copying the course workspace to build %s in it: %w", dir, err)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return fail(err)
	}
	for _, e := range ents {
		name := e.Name()
		src := filepath.Join(root, name)
		switch {
		case name == "go.work" || name == "go.work.sum":
			err = copyFile(src, filepath.Join(dst, name))
		case name == "chapters":
			err = copyTree(src, filepath.Join(dst, name), func(rel string) bool { return rel != slug })
		case name == "vendor":
			err = copyTree(src, filepath.Join(dst, name), nil)
		case e.IsDir() && !strings.HasPrefix(name, "."):
			for _, f := range []string{"go.mod", "go.sum"} {
				if _, serr := os.Stat(filepath.Join(src, f)); serr == nil && err == nil {
					err = copyFile(filepath.Join(src, f), filepath.Join(dst, name, f))
				}
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	chapter := filepath.Join(dst, "chapters", slug)
	if err := copyTree(dir, chapter, nil); err != nil {
		return fail(err)
	}
	return chapter, nil
}

// copyTree copies the regular files under src to dst, leaving out hidden files and folders and, when keep
// is not nil, the top-level entries of src for whose name it returns false.
func copyTree(src, dst string, keep func(name string) bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel != "." && (strings.HasPrefix(d.Name(), ".") || keep != nil && !strings.Contains(rel, string(filepath.Separator)) && !keep(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case d.Type().IsRegular():
			return copyFile(path, filepath.Join(dst, rel))
		}
		return nil
	})
}

// copyFile copies the file src to dst, making dst's folder if need be.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
