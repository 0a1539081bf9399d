package api

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/html"
)

// consoleHandler is the API with one (empty) flow mounted, as the api role
// serves it.
func consoleHandler(t *testing.T, withAPI bool) http.Handler {
	t.Helper()
	deps := Deps{}
	if withAPI {
		deps.Flows = []func(*gin.RouterGroup){func(*gin.RouterGroup) {}}
	}
	h, err := NewHandler(deps)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func consoleGet(h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestConsolePageIsIndexHTMLWithItsCSP(t *testing.T) {
	h := consoleHandler(t, true)
	rec := consoleGet(h, "/")
	index, _ := consoleFiles.ReadFile("console/index.html")
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), index) {
		t.Fatalf("GET /: %d, %d bytes; want 200 and index.html (%d bytes)", rec.Code, rec.Body.Len(), len(index))
	}
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": consoleCSP,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-cache",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("GET /: %s = %q, want %q", k, got, v)
		}
	}
	// The page's policy: its own origin only, nothing inline, not framed.
	for _, part := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(consoleCSP, part) {
			t.Errorf("the console's CSP lacks %q", part)
		}
	}
	if strings.Contains(consoleCSP, "unsafe") || strings.Contains(consoleCSP, "*") || strings.Contains(consoleCSP, "http") {
		t.Errorf("the console's CSP allows more than the page's origin: %s", consoleCSP)
	}
	// Revalidation: the same ETag answers 304 with no body.
	etag := rec.Header().Get("ETag")
	if re := consoleGet(h, "/", "If-None-Match", etag); etag == "" || re.Code != http.StatusNotModified || re.Body.Len() != 0 {
		t.Errorf("GET / with If-None-Match %q: %d, %d bytes; want 304, empty", etag, re.Code, re.Body.Len())
	}
}

func TestConsoleAssetsHaveTheirTypeAndTheCSP(t *testing.T) {
	h := consoleHandler(t, true)
	types := map[string]string{
		"app.js":                   "text/javascript; charset=utf-8",
		"console.css":              "text/css; charset=utf-8",
		"favicon.svg":              "image/svg+xml",
		"panels/alerts.js":         "text/javascript; charset=utf-8",
		"vendor/stompjs/index.js":  "text/javascript; charset=utf-8",
		"vendor/stompjs/client.js": "text/javascript; charset=utf-8",
	}
	for name, typ := range types {
		rec := consoleGet(h, "/console/"+name)
		body, _ := consoleFiles.ReadFile("console/" + name)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != typ || !bytes.Equal(rec.Body.Bytes(), body) {
			t.Errorf("GET /console/%s: %d %q (%d bytes); want 200 %q and the file", name, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), typ)
		}
	}
	// Every served file: the page's CSP, nosniff, an ETag.
	for name := range consoleAssets {
		rec := consoleGet(h, "/console/"+name)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Security-Policy") != consoleCSP ||
			rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("ETag") == "" {
			t.Errorf("GET /console/%s: %d, headers %v", name, rec.Code, rec.Header())
		}
	}
	// Every module the page imports is served (an import of a file that is
	// not there would break the page in the browser only).
	importRe := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	for name := range consoleAssets {
		if path.Ext(name) != ".js" {
			continue
		}
		src := string(consoleAssets[name].body)
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of files the console serves", name, spec)
				continue
			}
			if _, ok := consoleAssets[path.Join(path.Dir(name), spec)]; !ok {
				t.Errorf("%s imports %q, which the console does not serve", name, spec)
			}
		}
	}
}

func TestConsoleUnknownFileIsTheAPIsJSON404(t *testing.T) {
	h := consoleHandler(t, true)
	for _, target := range []string{"/console/nope.js", "/console/", "/console/panels", "/console/vendor/README.md",
		"/console/vendor/stompjs/LICENSE", "/console/vendor/stompjs/package.json", "/console/../console.go", "/console/%2e%2e/console.go"} {
		rec := consoleGet(h, target)
		var body struct{ Error Error }
		if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code == "" || body.Error.Message == "" {
			t.Errorf("GET %s: %d %s; want 404 with the API's error shape", target, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("GET %s: Content-Type %q", target, ct)
		}
	}
}

func TestAPIResponsesCarryARestrictiveCSP(t *testing.T) {
	h := consoleHandler(t, true)
	for _, target := range []string{"/healthz", "/v1/nope"} {
		rec := consoleGet(h, target)
		if csp := rec.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("GET %s: CSP %q", target, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", target)
		}
	}
}

// A process without the api role (push only) serves no console.
func TestConsoleIsServedByTheAPIRoleOnly(t *testing.T) {
	h := consoleHandler(t, false)
	for _, target := range []string{"/", "/console/app.js"} {
		if rec := consoleGet(h, target); rec.Code != http.StatusNotFound {
			t.Errorf("push only: GET %s = %d, want 404", target, rec.Code)
		}
	}
}

// Nothing in index.html runs inline: the CSP would refuse it anyway, and
// the page must work under it. Scripts and styles are files of the
// console's own origin.
func TestConsoleIndexHasNothingInline(t *testing.T) {
	index, _ := consoleFiles.ReadFile("console/index.html")
	z := html.NewTokenizer(bytes.NewReader(index))
	scripts := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		attrs := map[string]string{}
		for _, a := range tok.Attr {
			attrs[a.Key] = a.Val
			switch {
			case strings.HasPrefix(a.Key, "on"):
				t.Errorf("<%s %s=…>: an inline event handler", tok.Data, a.Key)
			case a.Key == "style":
				t.Errorf("<%s style=…>: an inline style", tok.Data)
			case (a.Key == "href" || a.Key == "src") && (strings.Contains(a.Val, ":") || strings.HasPrefix(a.Val, "//")):
				t.Errorf("<%s %s=%q>: not the page's own origin", tok.Data, a.Key, a.Val)
			}
		}
		switch tok.Data {
		case "script":
			scripts++
			if attrs["src"] == "" {
				t.Error("a <script> without src: inline code")
			}
		case "style":
			t.Error("a <style> element: inline CSS")
		}
	}
	if scripts != 1 {
		t.Errorf("%d script elements, want 1 (the app module)", scripts)
	}
}

// The console's own code inserts text as text: no HTML parsing of strings
// anywhere (the vendored library is not the console's code).
func TestConsoleCodeNeverParsesStringsAsHTML(t *testing.T) {
	banned := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*['"](style|on)|createContextualFragment|DOMParser`)
	err := fs.WalkDir(consoleFiles, "console", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "console/vendor/") || path.Ext(p) != ".js" {
			return err
		}
		src, err := consoleFiles.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := banned.FindString(line); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d uses %s: %s", p, i+1, m, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The cost of the API's security headers on a request: the same tiny
// route with and without the middleware (go test -bench SecurityHeaders
// -benchmem ./api/).
func BenchmarkAPISecurityHeaders(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	for _, with := range []bool{false, true} {
		name := "without"
		if with {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			r := gin.New()
			if with {
				r.Use(apiSecurityHeaders)
			}
			r.GET("/v1/x", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", []byte(`{}`)) })
			req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			b.ReportAllocs()
			for b.Loop() {
				r.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
