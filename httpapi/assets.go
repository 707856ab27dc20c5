package httpapi

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// static holds the pages' style sheet and script. They are served under a
// name that carries a hash of their content, so that browsers may keep
// them for a year and still never use a stale copy after a deployment.
//
//go:embed static
var static embed.FS

type asset struct {
	body        []byte
	contentType string
}

var (
	// assets are the static files by their hashed names.
	assets = map[string]asset{}
	// assetNames maps each file's own name to its hashed one.
	assetNames = map[string]string{}
)

func init() {
	files, err := fs.Glob(static, "static/*")
	if err != nil {
		panic(err) // only a malformed pattern fails, and this one is constant
	}
	for _, file := range files {
		body, err := static.ReadFile(file)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		name := path.Base(file)
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		assets[hashed] = asset{body: body, contentType: mime.TypeByExtension(ext)}
		assetNames[name] = hashed
	}
}

// assetURL is the path of a static file under its hashed name; templates
// call it, and an unknown name fails the page rather than linking nowhere.
func assetURL(name string) (string, error) {
	hashed, ok := assetNames[name]
	if !ok {
		return "", &fs.PathError{Op: "asset", Path: name, Err: fs.ErrNotExist}
	}
	return AssetsPath + "/" + hashed, nil
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[mux.Vars(r)["name"]]
	if !ok {
		writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: "no such asset; pages name their assets with a hash of the current content"})
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}
