package api

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// The console (docs/console.md): one page, plain JavaScript modules and CSS
// embedded in the binary, served by the API role at / and /console/…. It
// talks to the same API as any client, from the same origin.

//go:embed console
var consoleFiles embed.FS

// consoleCSP allows the page's own origin only: no inline script or style,
// no other host, not framed. Everything the page runs is a file below.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// API answers are data, never a document: a browser that is somehow made to
// render one runs nothing and loads nothing. The header values are shared
// slices set straight into the map, so the middleware costs no allocation.
var (
	apiCSPValue   = []string{"default-src 'none'; frame-ancestors 'none'"}
	nosniffValue  = []string{"nosniff"}
	consoleCSPVal = []string{consoleCSP}
)

// apiSecurityHeaders gives every response the API's restrictive CSP; the
// console's handlers replace it with the page's own.
func apiSecurityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h["Content-Security-Policy"] = apiCSPValue
	h["X-Content-Type-Options"] = nosniffValue
	c.Next()
}

// consoleAsset is one embedded file, read once at start.
type consoleAsset struct {
	body        []byte
	contentType string
	etag        string
}

// consoleTypes are the types of the files the console ships; anything else
// is not served.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// consoleAssets maps a path below /console/ ("app.js", "vendor/…") to its
// file. Documentation and licences in the folder are not served.
var consoleAssets = func() map[string]consoleAsset {
	assets := map[string]consoleAsset{}
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		typ, ok := consoleTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		body, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets[strings.TrimPrefix(p, "console/")] = consoleAsset{body: body, contentType: typ, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("console: " + err.Error())
	}
	return assets
}()

// consoleIndex serves the page itself at /.
func (s *Server) consoleIndex(c *gin.Context) {
	serveConsoleAsset(c, "index.html")
}

// consoleFile serves /console/<file>.
func (s *Server) consoleFile(c *gin.Context) {
	serveConsoleAsset(c, strings.TrimPrefix(c.Param("file"), "/"))
}

func serveConsoleAsset(c *gin.Context, name string) {
	a, ok := consoleAssets[name]
	if !ok {
		respondError(c, newError(http.StatusNotFound, "asset_not_found", "no such console file"))
		return
	}
	h := c.Writer.Header()
	h["Content-Security-Policy"] = consoleCSPVal
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// Revalidate every time: the files change with the binary, and a 304
	// costs one small round trip.
	h.Set("Cache-Control", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	if match := c.GetHeader("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.contentType, a.body)
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
