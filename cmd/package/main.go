// Command package builds the Azure Functions artefact of the api service:
// the custom handler compiled for Linux, host.json and each function
// folder's function.json, zipped with the handler marked executable.
//
// azd runs it before packaging the api service (see azure.yaml) and deploys
// the zip as it is. Writing the zip here, rather than letting a zip tool or
// azd compress a folder, is what keeps the handler's executable bit when the
// build runs on Windows, whose file system has no such bit: the mode is set
// in the zip entry itself. It needs nothing but Go, on any OS.
//
// Usage, from the repository root:
//
//	go run ./cmd/package [-root DIR] [-out DIR] [-name NAME]
//
// It writes OUT/NAME/ (the files, for a look) and OUT/NAME.zip (what azd
// uploads); by default dist/api/ and dist/api.zip.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/approvals-go/approvals/internal/cli"
)

// executable is the name host.json gives the custom handler
// (customHandler.description.defaultExecutablePath).
const executable = "handler"

func main() {
	root := flag.String("root", ".", "repository root: holds go.mod, host.json, cmd/handler and the function folders")
	out := flag.String("out", "dist", "folder to write the staged files and the zip to")
	name := flag.String("name", "api", "base name of the staged folder and of the zip")
	cli.Parse("Usage: go run ./cmd/package [-root DIR] [-out DIR] [-name NAME]\n\n" +
		"Builds ./cmd/handler for linux/amd64 with CGO_ENABLED=0 and writes OUT/NAME/ and OUT/NAME.zip\n" +
		"holding " + executable + " (mode 0755), host.json and <Function>/function.json for each function folder.")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	zipPath, files, err := run(ctx, *root, *out, *name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	fmt.Printf("package: wrote %s: %s\n", zipPath, strings.Join(files, ", "))
}

// run builds and writes the artefact and returns the zip's path and the
// files it holds.
func run(ctx context.Context, root, out, name string) (string, []string, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return "", nil, fmt.Errorf("-name %q must be a plain file name", name)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", nil, err
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", nil, fmt.Errorf("%s is not the module root: %w", root, err)
	}

	hostJSON, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return "", nil, err
	}
	if err := checkHostJSON(hostJSON); err != nil {
		return "", nil, fmt.Errorf("host.json: %w", err)
	}
	functions, err := findFunctions(root)
	if err != nil {
		return "", nil, err
	}

	// The staged folder is recreated from scratch, so it must be a folder of
	// its own: never the repository root or one of its parents.
	stage := filepath.Join(out, name)
	if isAncestorOrSelf(stage, root) {
		return "", nil, fmt.Errorf("output %s would overwrite the repository at %s", stage, root)
	}
	if err := os.RemoveAll(stage); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return "", nil, err
	}

	// The files of the artefact, as slash-separated paths, with their modes.
	files := map[string]fs.FileMode{executable: 0o755, "host.json": 0o644}
	if err := build(ctx, root, filepath.Join(stage, executable)); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, "host.json"), hostJSON, 0o644); err != nil {
		return "", nil, err
	}
	for _, fn := range functions {
		data, err := os.ReadFile(filepath.Join(root, fn, "function.json"))
		if err != nil {
			return "", nil, err
		}
		if err := os.MkdirAll(filepath.Join(stage, fn), 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(stage, fn, "function.json"), data, 0o644); err != nil {
			return "", nil, err
		}
		files[path.Join(fn, "function.json")] = 0o644
	}

	zipPath := filepath.Join(out, name+".zip")
	if err := writeZip(zipPath, stage, files); err != nil {
		return "", nil, err
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	slices.Sort(names)
	return zipPath, names, nil
}

// checkHostJSON makes sure the host will start the binary this program
// builds.
func checkHostJSON(data []byte) error {
	var host struct {
		CustomHandler *struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(data, &host); err != nil {
		return err
	}
	if host.CustomHandler == nil {
		return errors.New("no customHandler section")
	}
	if got := host.CustomHandler.Description.DefaultExecutablePath; got != executable {
		return fmt.Errorf("customHandler.description.defaultExecutablePath is %q; this program builds %q", got, executable)
	}
	return nil
}

// findFunctions returns the top-level folders of root that hold a
// function.json, which is how the Functions host finds functions.
func findFunctions(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var functions []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, e.Name(), "function.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !json.Valid(data) {
			return nil, fmt.Errorf("%s/function.json is not valid JSON", e.Name())
		}
		functions = append(functions, e.Name())
	}
	if len(functions) == 0 {
		return nil, fmt.Errorf("no folder of %s holds a function.json", root)
	}
	return functions, nil
}

// build compiles ./cmd/handler into a static linux/amd64 binary.
func build(ctx context.Context, root, output string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", output, "./cmd/handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = os.Stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/handler: %w\n%s", err, stderr.Bytes())
	}
	return nil
}

// writeZip writes the files of stage to zipPath, setting each entry's Unix
// mode from files rather than from the file system. It writes to a
// temporary file first, so a failed run never leaves a partial zip behind
// for azd to deploy.
func writeZip(zipPath, stage string, files map[string]fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(zipPath), filepath.Base(zipPath)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)

	zw := zip.NewWriter(tmp)
	dirs := map[string]bool{}
	for _, name := range names {
		if dir := path.Dir(name); dir != "." && !dirs[dir] {
			dirs[dir] = true
			info, err := os.Stat(filepath.Join(stage, filepath.FromSlash(dir)))
			if err != nil {
				return err
			}
			h := &zip.FileHeader{Name: dir + "/", Method: zip.Store, Modified: info.ModTime()}
			h.SetMode(fs.ModeDir | 0o755)
			if _, err := zw.CreateHeader(h); err != nil {
				return err
			}
		}
		if err := addFile(zw, filepath.Join(stage, filepath.FromSlash(name)), name, files[name]); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), zipPath)
}

func addFile(zw *zip.Writer, src, name string, mode fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: info.ModTime()}
	// SetMode records the mode as Unix permissions (creator "Unix"), which is
	// what the Linux side reads when it unpacks the package.
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// isAncestorOrSelf reports whether dir is p or one of p's ancestors.
func isAncestorOrSelf(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}
