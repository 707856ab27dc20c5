package infra_test

// The artefacts azd deploys: the static binaries, the Functions zip written
// by cmd/package (azure.yaml's `dist`, uploaded as is), and the Dockerfile.

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/approvals-go/approvals/internal/prereq"
)

// linuxStatic is the environment of every build that ends up on Azure.
var linuxStatic = []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0"}

func goCmd(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("go %s:\n%s", strings.Join(args, " "), stderr.Bytes())
	}
	return out, err
}

// staticELFProblems lists why r is not a statically linked linux/amd64
// executable: a program interpreter, a dynamic section, shared libraries.
// Such a binary runs on distroless/static and on the Functions host
// whatever their C library.
func staticELFProblems(r io.ReaderAt) []string {
	f, err := elf.NewFile(r)
	if err != nil {
		return []string{"not an ELF binary: " + err.Error()}
	}
	defer f.Close()
	var problems []string
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		problems = append(problems, fmt.Sprintf("built for %v/%v, not x86-64", f.Machine, f.Class))
	}
	if f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("ELF type %v, not a plain executable (ET_EXEC)", f.Type))
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			problems = append(problems, "asks for a program interpreter (PT_INTERP)")
		case elf.PT_DYNAMIC:
			problems = append(problems, "has a dynamic segment (PT_DYNAMIC)")
		}
	}
	for _, s := range []string{".interp", ".dynamic"} {
		if f.Section(s) != nil {
			problems = append(problems, "has a "+s+" section")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("needs shared libraries %v (%v)", libs, err))
	}
	return problems
}

func checkStaticELF(t *testing.T, name string, r io.ReaderAt) {
	t.Helper()
	for _, p := range staticELFProblems(r) {
		t.Errorf("%s is not a static linux/amd64 binary: %s", name, p)
	}
}

func TestStaticBinaries(t *testing.T) {
	for _, pkg := range []string{"cmd/worker", "cmd/handler"} {
		t.Run(pkg, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), filepath.Base(pkg))
			if _, err := goCmd(t, repoRoot(t), linuxStatic, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./"+pkg); err != nil {
				t.Fatalf("%s does not build as a static linux/amd64 binary with CGO_ENABLED=0: %v", pkg, err)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkStaticELF(t, pkg, f)
		})
	}
}

// TestStaticCheckFails shows the ELF check tells a dynamic binary apart,
// whenever this machine can build one.
func TestStaticCheckFails(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		prereq.Missing(t, "no C compiler (gcc) to build a dynamically linked binary with")
	}
	dir := t.TempDir()
	src := "package main\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc main() { C.puts(C.CString(\"hi\")) }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/dyn\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dyn")
	if _, err := goCmd(t, dir, []string{"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=1"}, "build", "-o", out, "."); err != nil {
		prereq.Missing(t, "cannot build a cgo binary here: %v", err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(staticELFProblems(f)) == 0 {
		t.Error("a cgo binary passed the static check")
	}
}

// ---------------------------------------------------------------------------
// The Functions zip

// zipEntry is what the test reads back from the zip.
type zipEntry struct {
	mode fs.FileMode
	data []byte
}

func readZip(t *testing.T, p string) map[string]zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := map[string]zipEntry{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[f.Name]; dup {
			t.Errorf("zip holds %s twice", f.Name)
		}
		out[f.Name] = zipEntry{mode: f.Mode(), data: data}
	}
	return out
}

// runPackager runs cmd/package as the azd hook does and returns the zip.
func runPackager(t *testing.T, root string) (string, error) {
	t.Helper()
	out := t.TempDir()
	_, err := goCmd(t, repoRoot(t), nil, "run", "./cmd/package", "-root", root, "-out", out)
	return filepath.Join(out, "api.zip"), err
}

// checkArtefact wants exactly: handler (0755, static ELF), host.json, and
// <F>/function.json for each function folder (with their folder entries),
// each file equal to its source under root.
func checkArtefact(t *testing.T, root, zipPath string, functions []string) {
	t.Helper()
	entries := readZip(t, zipPath)
	want := []string{"handler", "host.json"}
	for _, fn := range functions {
		want = append(want, fn+"/", fn+"/function.json")
	}
	slices.Sort(want)
	got := sortedKeys(entries)
	if !slices.Equal(got, want) {
		t.Fatalf("zip holds %v, want exactly %v", got, want)
	}
	h := entries["handler"]
	if h.mode.Perm() != 0o755 || !h.mode.IsRegular() {
		t.Errorf("handler has mode %v in the zip, want -rwxr-xr-x: the Functions host must be able to execute it", h.mode)
	}
	checkStaticELF(t, "handler in the zip", bytes.NewReader(h.data))
	for _, name := range want {
		e := entries[name]
		if strings.HasSuffix(name, "/") {
			if !e.mode.IsDir() {
				t.Errorf("%s is not a folder entry", name)
			}
			continue
		}
		if name == "handler" {
			continue
		}
		if e.mode.Perm() != 0o644 {
			t.Errorf("%s has mode %v, want -rw-r--r--", name, e.mode)
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(src, e.data) {
			t.Errorf("%s in the zip differs from %s", name, filepath.Join(root, name))
		}
	}
}

// fakeRepo writes a minimal module with a handler, host.json, two function
// folders and things that must stay out of the zip.
func fakeRepo(t *testing.T, hostJSON string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                 "module example.com/fake\n\ngo 1.22\n",
		"cmd/handler/main.go":    "package main\n\nfunc main() {}\n",
		"host.json":              hostJSON,
		"Alpha/function.json":    `{"bindings":[]}`,
		"Alpha/notes.txt":        "not part of the function",
		"Beta/function.json":     `{"bindings":[{"type":"httpTrigger"}]}`,
		"NotAFunction/x.json":    "{}",
		".hidden/function.json":  "{}",
		"local.settings.json":    `{"Values":{}}`,
		"README.md":              "# fake\n",
		"docs/deploy.md":         "# fake\n",
		"scheduler/schema.sql":   "-- not deployed\n",
		".azure/env/.env":        "SECRET=1\n",
		"cmd/handler/extra.json": "{}",
	}
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const fakeHostJSON = `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"},"enableForwardingHttpRequest":true}}`

func TestPackagerOnAFakeRepository(t *testing.T) {
	root := fakeRepo(t, fakeHostJSON)
	zipPath, err := runPackager(t, root)
	if err != nil {
		t.Fatalf("cmd/package failed: %v", err)
	}
	checkArtefact(t, root, zipPath, []string{"Alpha", "Beta"})
}

func TestPackagerRejectsAnotherExecutable(t *testing.T) {
	root := fakeRepo(t, `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"app"}}}`)
	zipPath, err := runPackager(t, root)
	if err == nil {
		t.Fatal("cmd/package accepted a host.json that starts app, not handler")
	}
	if _, statErr := os.Stat(zipPath); statErr == nil {
		t.Error("cmd/package left a zip behind after failing")
	}
}

// TestFunctionsArtefact builds the real artefact, exactly as `azd deploy`
// gets it through the prepackage hook.
func TestFunctionsArtefact(t *testing.T) {
	root := repoRoot(t)
	functions := functionFolders(t, root)
	for _, want := range []string{"StartApproval", "GetApproval", "SubmitDecision"} {
		if !slices.Contains(functions, want) {
			t.Errorf("function folder %s/function.json is missing", want)
		}
	}
	zipPath, err := runPackager(t, root)
	if err != nil {
		t.Fatalf("cmd/package failed on the repository: %v", err)
	}
	checkArtefact(t, root, zipPath, functions)
}

// functionFolders lists the top-level folders holding a function.json.
func functionFolders(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), "function.json")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The worker's Dockerfile

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	var instructions []string
	for _, line := range strings.Split(strings.ReplaceAll(src, "\\\n", " "), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			instructions = append(instructions, l)
		}
	}
	args := map[string]string{}
	var froms []string
	var last string
	for _, ins := range instructions {
		fields := strings.Fields(ins)
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if k, v, ok := strings.Cut(fields[1], "="); ok {
				args[k] = v
			}
		case "FROM":
			img := fields[1]
			if m := regexp.MustCompile(`^\$\{?([A-Za-z_]+)\}?$`).FindStringSubmatch(img); m != nil {
				img = args[m[1]]
			}
			froms = append(froms, img)
		}
		last = ins
	}
	if len(froms) < 2 {
		t.Fatalf("the Dockerfile has %d stages; want a build stage and a runtime stage", len(froms))
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readFile(t, filepath.Join(root, "go.mod")))
	if goVersion == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "golang:" + goVersion[1]; !strings.HasPrefix(froms[0], want) {
		t.Errorf("build stage is %s, want %s (go.mod says go %s)", froms[0], want, goVersion[1])
	}
	runtime := froms[len(froms)-1]
	if !strings.HasPrefix(runtime, "gcr.io/distroless/static") && runtime != "scratch" {
		t.Errorf("runtime stage is %s, want distroless/static or scratch", runtime)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/worker", "STOPSIGNAL SIGTERM"} {
		if !strings.Contains(src, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^USER\s+(nonroot|65532)`).MatchString(src) && !strings.HasSuffix(runtime, ":nonroot") {
		t.Error("the worker must run as a non-root user")
	}
	if !regexp.MustCompile(`^ENTRYPOINT\s+\[`).MatchString(last) {
		t.Errorf("the last instruction is %q; want ENTRYPOINT in exec form, so the worker itself gets SIGTERM", last)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
