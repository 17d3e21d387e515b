// Package browser drives a headless Chromium through the DevTools protocol, to check pages the way a person
// sees them (the course's slides). It speaks the protocol over a pair of pipes (Chromium's
// --remote-debugging-pipe: one JSON message per NUL-terminated chunk, https://chromedevtools.github.io/devtools-protocol/),
// so it needs no port, no websocket and no module beyond the standard library, and the browser ends when the
// pipes close.
package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Names are the commands Find looks for, in order, when $CHROMIUM is not set.
var Names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of the Chromium to run: $CHROMIUM when set, else the first of Names on PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, n := range Names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found (looked for $CHROMIUM, %s): on Debian, apt-get install chromium",
		strings.Join(Names, ", "))
}

// Skippable reports whether a check that needs Chromium may be skipped when none is installed: everywhere but
// in CI (CI=true), which must run it.
func Skippable() bool { return os.Getenv("CI") != "true" }

// Browser is a headless Chromium started by Start, in a process group of its own.
type Browser struct {
	cmd     *exec.Cmd
	dir     string   // the profile, new for each browser
	w       *os.File // our end of the pipe Chromium reads
	stderr  *tail
	done    chan struct{} // closed when the reader has stopped: the browser closed its pipe
	exited  chan struct{} // closed when the process has been reaped
	mu      sync.Mutex
	next    int64
	pending map[int64]chan reply
	closing sync.Once
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Flags are the command-line flags of every browser Start runs, besides the profile folder and the pipe:
// headless, and quiet on the network (no sync, updates or background fetches). --host-resolver-rules makes
// every host name but loopback's fail at once, so that a page under test can load nothing from elsewhere.
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
	"--disable-quic", "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
}

// Start runs the Chromium at path, headless, with a window of width × height pixels and a new, empty profile.
// Close ends it; if this process dies first, the browser is killed with it.
func Start(path string, width, height int) (*Browser, error) {
	dir, err := os.MkdirTemp("", "browser-")
	if err != nil {
		return nil, err
	}
	// Chromium reads commands from its fd 3 and writes replies and events to its fd 4.
	inR, inW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	args := append(append([]string{}, Flags...), "--user-data-dir="+dir, "--remote-debugging-pipe",
		fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	b := &Browser{
		cmd:     exec.Command(path, args...),
		dir:     dir,
		w:       inW,
		stderr:  &tail{max: 8 << 10},
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
		pending: map[int64]chan reply{},
	}
	b.cmd.ExtraFiles = []*os.File{inR, outW}
	b.cmd.Stderr = b.stderr
	b.cmd.WaitDelay = 2 * time.Second // a helper that escaped the group could hold stderr open
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = b.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	go func() {
		b.cmd.Wait()
		close(b.exited)
	}()
	go b.read(outR)
	return b, nil
}

// read delivers each reply to the call waiting for it; events are dropped.
func (b *Browser) read(r *os.File) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m struct {
			ID int64 `json:"id"`
			reply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.reply
		}
	}
}

// call sends a command (to a page's session when session is not empty) and decodes its result into out.
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	b.next++
	id := b.next
	b.pending[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}()
	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		SessionID string `json:"sessionId,omitempty"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
	}{id, session, method, params})
	if err != nil {
		return err
	}
	b.mu.Lock()
	_, err = b.w.Write(append(msg, 0))
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w%s", method, err, b.output())
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %s (code %d)", method, r.Error.Message, r.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: the browser closed its end of the protocol%s", method, b.output())
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *Browser) output() string {
	if s := strings.TrimSpace(b.stderr.String()); s != "" {
		return "; its output ends with:\n" + s
	}
	return ""
}

// Page is a tab of the browser.
type Page struct {
	b       *Browser
	target  string
	session string
}

// Open opens url in a new tab and waits until it has loaded (the document's load event, then its fonts).
func (b *Browser) Open(ctx context.Context, url string) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &s); err != nil {
		return nil, err
	}
	p := &Page{b: b, target: t.TargetID, session: s.SessionID}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return nil, err
	}
	if nav.ErrorText != "" {
		return nil, fmt.Errorf("open %s: %s", url, nav.ErrorText)
	}
	// Page.navigate answers once the new document is committed; poll until it has loaded. An evaluation can
	// fail while the document changes hands: try again.
	const loaded = `document.readyState === "complete" && location.href !== "about:blank"`
	for {
		var ok bool
		if err := p.Eval(ctx, loaded, &ok); err == nil && ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s: not loaded: %w", url, ctx.Err())
		case <-b.done:
			return nil, fmt.Errorf("open %s: the browser is gone%s", url, b.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p, p.Eval(ctx, `document.fonts.ready.then(() => true)`, nil)
}

// Eval evaluates a JavaScript expression in the page, waits for it when it is a promise, and decodes its
// value, which must be JSON, into out (when out is not nil).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}
	if err := p.b.call(ctx, p.session, "Runtime.evaluate", params, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("javascript: %s %s", r.Exception.Text, r.Exception.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Close closes the tab.
func (p *Page) Close(ctx context.Context) error {
	return p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
}

// Pid returns the process id of the browser's main process, which is also its process group's id.
func (b *Browser) Pid() int { return b.cmd.Process.Pid }

// Close asks the browser to quit, gives it two seconds, then kills its whole process group, and removes its
// profile. Nothing of the browser is left running after it.
func (b *Browser) Close() error {
	b.closing.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		b.w.Close()
		select {
		case <-b.exited:
		case <-ctx.Done():
		}
		// Chromium's helper processes (zygote, renderers) share its process group.
		_ = syscall.Kill(-b.Pid(), syscall.SIGKILL)
		<-b.exited
		os.RemoveAll(b.dir)
	})
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
		if i := bytes.IndexByte(t.buf, '\n'); i >= 0 {
			t.buf = t.buf[i+1:]
		}
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
