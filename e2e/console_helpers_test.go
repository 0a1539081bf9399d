//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/chromedp/chromedp"

	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/internal/testenv"
)

// This file: a headless Chromium driven with chromedp (one browser, a
// browser context per "person"), the page's state read with small
// JavaScript expressions, screenshots under e2e/out/, and the calls the
// console test makes besides the page's.

// consoleOutDir is where every step's screenshot goes (git-ignored).
const consoleOutDir = "out"

// consoleChromium finds the browser: SURGE_E2E_CHROMIUM, else Debian's
// chromium on PATH (.ci/run installs it).
func consoleChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SURGE_E2E_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: this test drives the console in headless Chromium (apt-get install chromium; .ci/run does), or set SURGE_E2E_CHROMIUM")
	return ""
}

// consoleBrowser starts one headless Chromium for the test; it is closed
// when the test ends.
func consoleBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(consoleChromium(t)),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first Do starts the browser and binds its life to the context it
	// is given: this one, not a shorter-lived one.
	testenv.Must(t, chromedp.Do(browser), "start chromium")
	return browser
}

// consoleTab is one person looking at the console: a tab in a browser
// context of its own (its own storage), at a viewport size. Every console
// message and uncaught exception of the page is kept.
type consoleTab struct {
	name string
	ctx  context.Context
	mu   sync.Mutex
	logs []chromedp.ConsoleMessage
}

func consoleNewTab(t *testing.T, browser context.Context, name string, width, height int64, mobile bool) *consoleTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tab := &consoleTab{name: name, ctx: ctx}
	var emulate []chromedp.EmulateViewportOption
	if mobile {
		emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	// The tab's first Do opens it, bound to ctx (not to a timeout's context).
	testenv.Must(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height, emulate...)), "%s: viewport", name)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.logs = append(tab.logs, m)
			tab.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's console:\n%s", name, tab.consoleText())
		}
	})
	return tab
}

func (tab *consoleTab) consoleText() string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var b strings.Builder
	for _, m := range tab.logs {
		fmt.Fprintf(&b, "  %s:%d %s\n", m.URL, m.Line+1, m)
	}
	return b.String()
}

// problems are the page's uncaught exceptions and Content-Security-Policy
// refusals: a console that works has none.
func (tab *consoleTab) problems() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var out []string
	for _, m := range tab.logs {
		if m.IsException() || strings.Contains(m.String(), "Content Security Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

func (tab *consoleTab) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %s: %v", tab.name, what, err)
	}
}

// open loads the console at base + fragment ("#/alerts?…").
func (tab *consoleTab) open(t *testing.T, base, fragment string) {
	t.Helper()
	tab.do(t, "open "+fragment, chromedp.Navigate(base+"/"+fragment))
}

// consoleEval evaluates a JavaScript expression in the tab.
func consoleEval[T any](t *testing.T, tab *consoleTab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v", tab.name, expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition every 20 ms until it is true.
func (tab *consoleTab) waitJS(t *testing.T, timeout time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !consoleEval[bool](t, tab, "!!("+cond+")") {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out after %s waiting for %s (%s)", tab.name, timeout, what, cond)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consoleHash switches the page to another panel (a deep link) without
// reloading it: its connections stay.
func consoleHash(fragment string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void]("location.hash = " + consoleJS(fragment))
}

// click clicks the first element matching a CSS selector (scrolled into
// view, as a person would).
func (tab *consoleTab) click(t *testing.T, selector string) {
	t.Helper()
	tab.do(t, "click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// typeInto types text into the field a CSS selector names.
func (tab *consoleTab) typeInto(t *testing.T, selector, text string) {
	t.Helper()
	tab.do(t, "type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), text))
}

// shot saves a screenshot of the whole page as out/<name>.png.
func (tab *consoleTab) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	testenv.Must(t, err, "%s: screenshot %s", tab.name, name)
	testenv.Must(t, os.MkdirAll(consoleOutDir, 0o755), "mkdir %s", consoleOutDir)
	path := filepath.Join(consoleOutDir, name+".png")
	testenv.Must(t, os.WriteFile(path, png, 0o644), "write %s", path)
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot %s (%s, %d KiB)", abs, tab.name, len(png)>>10)
}

// consoleJS quotes s as a JavaScript string literal.
func consoleJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// consoleServeAt runs `surge serve` (every role) on the stack at a fixed
// address, so a test can stop it and start it again where the page
// reconnects, and waits until it is ready.
func consoleServeAt(t *testing.T, stack *alertStack, name, addr string) *serving {
	t.Helper()
	env := maps.Clone(stack.env)
	env["SURGE_HTTP_ADDR"] = addr
	sv := &serving{proc: startCleanProc(t, name, env, "serve"), name: name, URL: "http://" + addr}
	probe := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sv.exited() {
			t.Fatalf("%s exited before it was ready", name)
		}
		if res, err := probe.Get(sv.URL + "/readyz"); err == nil {
			io.Copy(io.Discard, res.Body) //nolint:errcheck
			res.Body.Close()
			if res.StatusCode == http.StatusOK && sv.logHas(`"msg":"surge is running"`) {
				return sv
			}
		}
	}
	t.Fatalf("%s not ready within 90s", name)
	return nil
}

// consolePost sends a JSON body and fails the test unless the status is want.
func consolePost(t *testing.T, base, path string, body any, want int) []byte {
	t.Helper()
	status, out, err := post(base, path, body)
	testenv.Must(t, err, "POST %s", path)
	if status != want {
		t.Fatalf("POST %s: %d %s, want %d", path, status, out, want)
	}
	return out
}

// consoleGet reads a JSON answer (with the admin token if given).
func consoleGet(t *testing.T, base, path, token string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	testenv.Must(t, err, "GET %s", path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := alertHTTP.Do(req)
	testenv.Must(t, err, "GET %s", path)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	testenv.Must(t, err, "GET %s", path)
	if v != nil && res.StatusCode == http.StatusOK {
		testenv.Must(t, json.Unmarshal(b, v), "GET %s: %s", path, b)
	}
	return res.StatusCode
}

// consolePublishCommand puts one message on a command topic through the
// broker, as Surge's own command bus would (payload as given, so it may
// be garbage): the way a test poisons a handler deterministically.
func consolePublishCommand(t *testing.T, broker, topic, wireName, partitionKey string, payload []byte) string {
	t.Helper()
	pub, err := kafka.NewPublisher([]string{broker}, watermill.NopLogger{})
	testenv.Must(t, err, "kafka publisher")
	defer pub.Close()
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.Metadata.Set(messaging.NameKey, wireName)
	msg.Metadata.Set(messaging.SchemaVersionKey, "1")
	msg.Metadata.Set(kafka.PartitionKeyMetadata, partitionKey)
	testenv.Must(t, pub.Publish(topic, msg), "publish to %s", topic)
	return msg.UUID
}
